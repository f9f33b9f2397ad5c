// The live connection. The node sends at most in_flight samples that the
// page has not acknowledged; the page acknowledges once it has drawn them
// (ack), so a busy or hidden page is sent fewer, newer samples and nothing
// piles up on either side. A dropped connection is retried with backoff.

export class Live {
  // handlers: hello(msg), sample(msg), cluster(state), state(name, text)
  constructor(prefix, handlers) {
    this.prefix = prefix;
    this.h = handlers;
    this.ws = null;
    this.rate = 1;
    this.inFlight = 1;
    this.unacked = 0;
    this.retry = 1000;
    this.timer = 0;
  }

  start(rate) {
    this.rate = rate;
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}${this.prefix}/ws?rate=${encodeURIComponent(this.rate)}`);
    this.ws = ws;
    this.unacked = 0;
    this.h.state('connecting', 'connecting…');
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return; // not ours to show; the next message will do
      }
      if (m.type === 'hello') {
        this.retry = 1000;
        this.inFlight = m.in_flight || 1;
        this.h.hello(m);
      } else if (m.type === 'sample') {
        this.unacked++;
        this.h.sample(m);
      } else if (m.type === 'cluster') {
        this.h.cluster(m.cluster);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const why = ev.reason ? `: ${ev.reason}` : '';
      const secs = Math.round(this.retry / 1000);
      this.h.state('down', `disconnected${why}; retrying in ${secs} s`);
      this.timer = setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 30000);
    };
  }

  // ack tells the node that the samples received so far have been drawn,
  // half of in_flight at a time: half the messages, and the node always
  // has credit left for the next sample.
  ack() {
    const every = Math.max(1, Math.ceil(this.inFlight / 2));
    if (this.unacked >= every && this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: 'ack', n: Math.min(this.unacked, this.inFlight) }));
      this.unacked = 0;
    }
  }

  setRate(rate) {
    this.rate = rate;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'rate', rate }));
  }
}
