// The emulated board's flash and boot (see ../../mpconfigboard.mk).
//
// Flash: the file flash.img in qemu's working folder, reached through ARM
// semihosting (a bkpt 0xAB trap that qemu answers with a host file call),
// so it outlives a soft reset and qemu itself, as a board's flash does.
// Python sees it as the module qemu_flash:
//   qemu_flash.read(offset, buf)    fills buf from flash (0xFF past the
//                                   end of the file: erased flash)
//   qemu_flash.write(offset, buf)   writes buf at offset
//   qemu_flash.SIZE                 bytes of flash
// The block device over it and the mount are Python (_boot.py, frozen).
//
// Entropy: os.urandom reads the host's /dev/urandom through the same
// semihosting calls, as a real board reads its hardware RNG (the RP2040's
// ROSC, the ESP32's RNG peripheral); mps2-an385 has none of its own.
#include <string.h>

#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/runtime.h"
#include "shared/runtime/pyexec.h"

#define FLASH_SIZE (4 * 1024 * 1024)

#define SYS_OPEN (0x01)
#define SYS_WRITE (0x05)
#define SYS_READ (0x06)
#define SYS_SEEK (0x0A)
#define OPEN_MODE_READ_BINARY (1)    // "rb"
#define OPEN_MODE_RW_BINARY (3)      // "r+b": the file exists
#define OPEN_MODE_CREATE_BINARY (7)  // "w+b": the first boot

static int flash_handle = -1;

static uint32_t semihosting_call(uint32_t num, const void *arg) {
    register uint32_t num_reg __asm__ ("r0") = num;
    register const void *args_reg __asm__ ("r1") = arg;
    __asm__ __volatile__ ("bkpt 0xAB\n" : "+r" (num_reg) : "r" (args_reg) : "memory");
    return num_reg;
}

static int flash_open(void) {
    if (flash_handle == -1) {
        static const char name[] = "flash.img";
        uint32_t args[3] = {(uint32_t)name, OPEN_MODE_RW_BINARY, sizeof(name) - 1};
        flash_handle = semihosting_call(SYS_OPEN, args);
        if (flash_handle == -1) {
            args[1] = OPEN_MODE_CREATE_BINARY;
            flash_handle = semihosting_call(SYS_OPEN, args);
        }
        if (flash_handle == -1) {
            mp_raise_OSError(MP_EIO);
        }
    }
    return flash_handle;
}

static void flash_seek(mp_int_t offset, size_t len) {
    if (offset < 0 || (size_t)offset + len > FLASH_SIZE) {
        mp_raise_ValueError(MP_ERROR_TEXT("outside the flash"));
    }
    uint32_t args[2] = {(uint32_t)flash_open(), (uint32_t)offset};
    if (semihosting_call(SYS_SEEK, args) != 0) {
        mp_raise_OSError(MP_EIO);
    }
}

static mp_obj_t flash_read(mp_obj_t offset_in, mp_obj_t buf_in) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(buf_in, &buf, MP_BUFFER_WRITE);
    flash_seek(mp_obj_get_int(offset_in), buf.len);
    uint32_t args[3] = {(uint32_t)flash_handle, (uint32_t)buf.buf, buf.len};
    uint32_t missing = semihosting_call(SYS_READ, args);  // bytes not read
    if (missing > buf.len) {
        mp_raise_OSError(MP_EIO);
    }
    memset((char *)buf.buf + buf.len - missing, 0xFF, missing);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(flash_read_obj, flash_read);

static mp_obj_t flash_write(mp_obj_t offset_in, mp_obj_t buf_in) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(buf_in, &buf, MP_BUFFER_READ);
    flash_seek(mp_obj_get_int(offset_in), buf.len);
    uint32_t args[3] = {(uint32_t)flash_handle, (uint32_t)buf.buf, buf.len};
    if (semihosting_call(SYS_WRITE, args) != 0) {  // bytes not written
        mp_raise_OSError(MP_EIO);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(flash_write_obj, flash_write);

static const mp_rom_map_elem_t qemu_flash_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_qemu_flash) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&flash_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&flash_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_SIZE), MP_ROM_INT(FLASH_SIZE) },
};
static MP_DEFINE_CONST_DICT(qemu_flash_globals, qemu_flash_globals_table);

const mp_obj_module_t qemu_flash_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&qemu_flash_globals,
};
MP_REGISTER_MODULE(MP_QSTR_qemu_flash, qemu_flash_module);

// os.urandom (MICROPY_PY_OS_URANDOM, mpconfigboard.mk): n bytes of the
// host's /dev/urandom, opened once. The link wraps the port's
// mp_hal_get_random (a fixed-seed LCG) so that every caller gets this one.
void __wrap_mp_hal_get_random(size_t n, uint8_t *buf) {
    static int handle = -1;
    if (handle == -1) {
        static const char name[] = "/dev/urandom";
        uint32_t args[3] = {(uint32_t)name, OPEN_MODE_READ_BINARY, sizeof(name) - 1};
        handle = semihosting_call(SYS_OPEN, args);
        if (handle == -1) {
            mp_raise_OSError(MP_EIO);
        }
    }
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)buf, n};
    if (semihosting_call(SYS_READ, args) != 0) {  // bytes not read
        mp_raise_OSError(MP_EIO);
    }
}

// littlefs stamps files with this; the board has no RTC.
uint64_t mp_hal_time_ns(void) {
    return 0;
}

// Called at the end of every mp_init(): after power-on and after each soft
// reset, as boot.py and main.py run on a real board. main.py runs only in
// the friendly REPL mode, so that a tool entering the raw REPL (mpremote)
// gets the REPL and not the application.
// Looking for main.py reads the filesystem, which calls the block device
// (Python) outside any handler of pyexec's: an exception there is printed
// here instead of ending the board ("uncaught NLR").
void qemu_board_init(void) {
    pyexec_frozen_module("_boot.py", false);
    if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {
        nlr_buf_t nlr;
        if (nlr_push(&nlr) == 0) {
            pyexec_file_if_exists("main.py");
            nlr_pop();
        } else {
            mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
        }
    }
}

// Ticks from the FPGA's counters, not from SysTick. The port counts
// ticks_ms in the SysTick interrupt, and qemu drops timer interrupts when
// the host is busy (measured: 3,700 ppm slow on a loaded machine), so the
// board's clock lost time as no crystal does. The mps2 FPGA block
// (AN385: 0x40028000) has counters that qemu computes from its virtual
// clock on every read: CLK100HZ (10 ms, 32 bits: 497 days) and COUNTER
// (25 MHz cycles, 32 bits: wraps every 171.8 s), both from reset. The
// cycle count since reset is COUNTER plus the wraps that CLK100HZ implies;
// the link wraps the port's ticks_ms/ticks_us so that every caller reads
// these.
#define FPGAIO_CLK100HZ (*(volatile uint32_t *)0x40028014)
#define FPGAIO_COUNTER (*(volatile uint32_t *)0x40028018)
#define CYCLES_PER_10MS (250000ull)

static uint64_t board_cycles(void) {
    uint32_t c100, cnt;
    do {
        c100 = FPGAIO_CLK100HZ;
        cnt = FPGAIO_COUNTER;
    } while (FPGAIO_CLK100HZ != c100);
    uint64_t low = (uint64_t)c100 * CYCLES_PER_10MS;  // within 10 ms below the true count
    uint64_t cycles = (low & ~0xFFFFFFFFull) | cnt;
    if (cycles < low) {
        cycles += 0x100000000ull;
    }
    return cycles;
}

uintptr_t __wrap_ticks_ms(void) {
    return (uintptr_t)(board_cycles() / 25000u);
}

uintptr_t __wrap_ticks_us(void) {
    return (uintptr_t)(board_cycles() / 25u);
}
