/**
 * A binary min-heap of (time, kind, user) events in typed arrays: the processor runs of the
 * capacity simulation in virtual-time order, without an object per event. Equal times come out
 * in insertion order (a sequence number breaks ties), so a run is reproducible from its seed.
 */
/** Whether event (time, sequence) comes before event (otherTime, otherSequence). */
function precedes(time: number, sequence: number, otherTime: number, otherSequence: number): boolean {
  return time < otherTime || (time === otherTime && sequence < otherSequence);
}

export class EventQueue {
  private times = new Float64Array(1 << 16);
  private sequences = new Float64Array(1 << 16);
  private kinds = new Uint8Array(1 << 16);
  private users = new Int32Array(1 << 16);
  private count = 0;
  private nextSequence = 0;

  get size(): number {
    return this.count;
  }

  /** The earliest event's time, or Infinity when empty. */
  peekTime(): number {
    return this.count > 0 ? (this.times[0] as number) : Number.POSITIVE_INFINITY;
  }

  push(time: number, kind: number, user: number): void {
    if (this.count === this.times.length) this.grow();
    let index = this.count++;
    const sequence = this.nextSequence++;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!precedes(time, sequence, this.times[parent] as number, this.sequences[parent] as number)) break;
      this.move(parent, index);
      index = parent;
    }
    this.set(index, time, sequence, kind, user);
  }

  /** Removes the earliest event; `pop()` must only be called when `size > 0`. */
  pop(): { time: number; kind: number; user: number } {
    const event = {
      time: this.times[0] as number,
      kind: this.kinds[0] as number,
      user: this.users[0] as number,
    };
    const last = --this.count;
    const time = this.times[last] as number;
    const sequence = this.sequences[last] as number;
    const kind = this.kinds[last] as number;
    const user = this.users[last] as number;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      if (left >= last) break;
      const right = left + 1;
      const child = right < last && this.earlier(right, left) ? right : left;
      if (!precedes(this.times[child] as number, this.sequences[child] as number, time, sequence)) break;
      this.move(child, index);
      index = child;
    }
    this.set(index, time, sequence, kind, user);
    return event;
  }

  private earlier(a: number, b: number): boolean {
    return precedes(
      this.times[a] as number,
      this.sequences[a] as number,
      this.times[b] as number,
      this.sequences[b] as number,
    );
  }

  private move(from: number, to: number): void {
    this.set(
      to,
      this.times[from] as number,
      this.sequences[from] as number,
      this.kinds[from] as number,
      this.users[from] as number,
    );
  }

  private set(index: number, time: number, sequence: number, kind: number, user: number): void {
    this.times[index] = time;
    this.sequences[index] = sequence;
    this.kinds[index] = kind;
    this.users[index] = user;
  }

  private grow(): void {
    const size = this.times.length * 2;
    const grown = <T extends Float64Array | Uint8Array | Int32Array>(
      array: T,
      create: (length: number) => T,
    ) => {
      const next = create(size);
      next.set(array);
      return next;
    };
    this.times = grown(this.times, (length) => new Float64Array(length));
    this.sequences = grown(this.sequences, (length) => new Float64Array(length));
    this.kinds = grown(this.kinds, (length) => new Uint8Array(length));
    this.users = grown(this.users, (length) => new Int32Array(length));
  }
}
