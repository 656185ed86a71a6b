// A WebSocket under /ws/v1 that reconnects by itself, with exponential
// back-off and jitter. Authentication happens at the upgrade with the `ath`
// cookie (same origin), and renews in place with {"auth": token}; the server
// says "token-expiring" a minute before the token expires (onTokenExpiring),
// and closes with 1008 when it is missing (on the routes that need one),
// expired or revoked. leaderboard-ws also closes a client
// that floods it with 1008, so a 1008 stops the reconnecting and asks the
// page (onPolicyClose) to decide: log in again, or resume(). Any other close
// (a restart's 1001, a dropped network, a proxy's 502 at the upgrade) is
// retried.

export const CLOSE_POLICY_VIOLATION = 1008;
const CLOSE_NORMAL = 1000;

/** ws:// or wss:// URL of a path on this page's host. */
export function socketURL(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

/**
 * States: "connecting" (first attempt, or an attempt after a wait), "live"
 * (open), "reconnecting" (waiting before the next attempt; `retryIn` says how
 * long), "closed" (stopped on purpose or for want of authentication).
 */
export class LiveSocket {
  /**
   * @param {string} path e.g. "/ws/v1/scores"
   * @param {{
   *   onOpen?: (socket: LiveSocket) => void,
   *   onMessage?: (message: any) => void,
   *   onState?: (state: string, detail: {retryIn?: number, attempt: number}) => void,
   *   onPolicyClose?: (event: CloseEvent) => void,
   *   onTokenExpiring?: () => void,
   *   minDelay?: number, maxDelay?: number,
   * }} handlers delays in milliseconds
   */
  constructor(path, handlers = {}) {
    this.path = path;
    this.handlers = handlers;
    this.minDelay = handlers.minDelay ?? 500;
    this.maxDelay = handlers.maxDelay ?? 30_000;
    this.socket = null;
    this.state = "closed";
    this.failures = 0;
    this.timer = null;
    this.stopped = true;
    this.openedAt = 0;
    this.onOnline = () => {
      if (this.state === "reconnecting") this.connectNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.failures = 0;
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  /** Starts again after a 1008 that was not about the session, after the usual back-off. */
  resume() {
    if (!this.stopped || this.socket) return;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.scheduleRetry();
  }

  /** Closes for good (logout). */
  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close(CLOSE_NORMAL, "bye");
      } catch {
        // already closed
      }
    }
    this.setState("closed");
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Sends a JSON message if the socket is open; returns whether it did. */
  send(message) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Renews the socket's token in place: the server keeps its views and moves its expiry. */
  renew(token) {
    return this.send({ auth: token });
  }

  /** Skips the current wait (the network came back, or the user asked). */
  connectNow() {
    if (this.stopped || this.socket) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  setState(state, detail = {}) {
    this.state = state;
    this.handlers.onState?.(state, { attempt: this.failures, ...detail });
  }

  connect() {
    this.setState("connecting");
    let socket;
    try {
      socket = new WebSocket(socketURL(this.path));
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.openedAt = Date.now();
      this.setState("live");
      this.handlers.onOpen?.(this);
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not JSON: nothing this page understands
      }
      if (message && typeof message.event === "string") {
        if (message.event === "token-expiring") this.handlers.onTokenExpiring?.();
        return;
      }
      this.handlers.onMessage?.(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (event.code === CLOSE_POLICY_VIOLATION) {
        this.stopped = true;
        window.removeEventListener("online", this.onOnline);
        this.setState("closed", { code: event.code, reason: event.reason });
        this.handlers.onPolicyClose?.(event);
        return;
      }
      // One that stayed up a while was not refused: begin the back-off anew.
      if (this.openedAt && Date.now() - this.openedAt > 5_000) this.failures = 0;
      this.openedAt = 0;
      this.scheduleRetry();
    };
    // onerror is always followed by onclose, which does the work.
    socket.onerror = () => {};
  }

  scheduleRetry() {
    if (this.stopped) return;
    // 0.5 s, 1 s, 2 s, ... up to maxDelay, each with ±20 % jitter so that
    // many clients do not all come back in the same instant after a restart.
    const base = Math.min(this.maxDelay, this.minDelay * 2 ** this.failures);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.failures += 1;
    this.setState("reconnecting", { retryIn: delay });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }
}
