# The bounded FILO queue of the AdaptiveSwitch section (docs/spec.md,
# verifier section): records that passed the verifier, served newest first.
# Its own module so that a device, which does not queue, does not load it.


class FiloQueue:
    # Bounded queue of records that passed the verifier: pop() returns the
    # most recently generated one (max timestamp; among equal timestamps,
    # the one pushed last). When full, the entry with the OLDEST timestamp
    # is dropped (possibly the one being pushed): under the FILO policy it
    # is the one that would be served last, and it is the closest to going
    # STALE, so dropping it costs the least and cannot be used to push out
    # fresher records by flooding with old ones.
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity")
        self.capacity = capacity
        self._ts = [0] * capacity
        self._items = [None] * capacity
        self._seq = [0] * capacity  # push order, breaks timestamp ties
        self._count = 0
        self._next = 0

    def __len__(self):
        return self._count

    def push(self, timestamp_ns, item):
        # Returns the dropped item when the queue was full, else None.
        self._next += 1
        n = self._count
        if n < self.capacity:
            self._ts[n] = timestamp_ns
            self._items[n] = item
            self._seq[n] = self._next
            self._count = n + 1
            return None
        old = self._oldest()
        if timestamp_ns < self._ts[old]:
            return item  # the newcomer is the oldest: drop it
        dropped = self._items[old]
        self._ts[old] = timestamp_ns
        self._items[old] = item
        self._seq[old] = self._next
        return dropped

    def _oldest(self):
        # Min timestamp; among equals the earliest pushed.
        o = 0
        for i in range(1, self._count):
            if self._ts[i] < self._ts[o] or (self._ts[i] == self._ts[o] and self._seq[i] < self._seq[o]):
                o = i
        return o

    def _newest(self):
        b = 0
        for i in range(1, self._count):
            if self._ts[i] > self._ts[b] or (self._ts[i] == self._ts[b] and self._seq[i] > self._seq[b]):
                b = i
        return b

    def peek(self):
        if not self._count:
            return None
        return self._items[self._newest()]

    def pop(self):
        # The item with the max timestamp; None when empty.
        if not self._count:
            return None
        b = self._newest()
        item = self._items[b]
        last = self._count - 1
        self._ts[b] = self._ts[last]
        self._items[b] = self._items[last]
        self._seq[b] = self._seq[last]
        self._items[last] = None
        self._count = last
        return item
