import { humanSize } from './output.js';

/** How often the board is redrawn, and the bar's width in characters. */
const FRAME_MS = 100;
const BAR = 40;

interface Row {
  readonly id: string;
  status: string;
  /** Bytes done so far (read when drawing) and the total, while a transfer runs. */
  progress: { readonly current: () => number; readonly total: number } | undefined;
}

/**
 * Per-layer progress lines on a terminal, as docker draws them: one line per blob, redrawn
 * in place (cursor up, clear line) at most every FRAME_MS. Byte counts are read from the
 * transfer itself when a frame is drawn, so a transfer pays nothing per chunk.
 */
export class ProgressBoard {
  private readonly rows: Row[] = [];
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (text: string) => void,
    private readonly columns: number,
  ) {}

  /** Sets a blob's status line; `progress` while bytes move, undefined otherwise. */
  set(id: string, status: string, progress?: Row['progress']): void {
    const row = this.rows.find((r) => r.id === id);
    if (row === undefined) this.rows.push({ id, status, progress });
    else {
      row.status = status;
      row.progress = progress;
    }
    this.timer ??= setInterval(() => this.draw(), FRAME_MS).unref();
  }

  /** Draws the final frame and stops redrawing. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
  }

  private draw(): void {
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const row of this.rows) text += `\x1b[2K${this.line(row).slice(0, Math.max(20, this.columns - 1))}\n`;
    this.drawn = this.rows.length;
    if (text !== '') this.write(text);
  }

  private line(row: Row): string {
    if (row.progress === undefined) return `${row.id}: ${row.status}`;
    const { total } = row.progress;
    const current = Math.min(total, row.progress.current());
    const filled = total > 0 ? Math.floor((current / total) * BAR) : BAR;
    const bar = filled >= BAR ? '='.repeat(BAR) : `${'='.repeat(filled)}>${' '.repeat(BAR - filled - 1)}`;
    return `${row.id}: ${row.status} [${bar}] ${humanSize(current)}/${humanSize(total)}`;
  }
}
