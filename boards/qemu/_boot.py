# Boot of the emulated board (frozen; cmodules/qemu_board/board.c runs it
# after every reset): mount the littlefs on the board's flash at /, making
# the filesystem on first boot, as a board's own _boot.py does.
# The block device keeps the flash module on itself: this module's
# globals are the REPL's, and the mount outlives them.
import vfs


class _Flash:
    # The block device protocol (extended form: offsets within a block)
    # over qemu_flash: 4 KB erase blocks.
    def __init__(self):
        import qemu_flash

        self.flash = qemu_flash

    def readblocks(self, block, buf, offset=0):
        self.flash.read(block * 4096 + offset, buf)

    def writeblocks(self, block, buf, offset=0):
        self.flash.write(block * 4096 + offset, buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.flash.SIZE // 4096
        if op == 5:  # block size
            return 4096
        if op == 6:  # erase: a file needs none
            return 0


def _mount():
    bdev = _Flash()
    try:
        vfs.mount(vfs.VfsLfs2(bdev), "/")
    except OSError:
        vfs.VfsLfs2.mkfs(bdev)
        vfs.mount(vfs.VfsLfs2(bdev), "/")


_mount()
del _mount, _Flash, vfs
