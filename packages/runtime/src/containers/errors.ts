/** What the container operations throw; the CLI prints the message as one line. */
export class ContainerNotFoundError extends Error {
  constructor(ref: string) {
    super(`no such container: ${ref.slice(0, 140)}`);
    this.name = 'ContainerNotFoundError';
  }
}

export class ContainerStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerStateError';
  }
}
