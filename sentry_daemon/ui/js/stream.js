// The live stream, GET /__parlel/stream (server-sent events), read with fetch rather than
// EventSource so the request can carry the bearer token the control API may ask for. Reconnects
// after a drop with Last-Event-ID, so nothing sent meanwhile is missed.

import {authHeaders} from "./api.js";

export const KINDS = ["error", "default", "transaction", "span", "log", "check_in", "session",
                      "attachment", "client_report", "feedback"];

export class LiveStream {
  /** onRecord({kind, id, data}); onState("connecting" | "replaying" | "live" | "retrying"): "live"
   * once the stream says the records it had kept (its backlog, or those after Last-Event-ID) are in. */
  constructor({onRecord, onState}) {
    this.onRecord = onRecord;
    this.onState = onState || (() => {});
    this.lastId = null;
    this.retry = 1000;
    this.controller = null;
    this.generation = 0;  // each start() is a new generation; an older loop ends when it sees one
  }

  start() {
    this.connect(++this.generation);
  }

  stop() {
    this.generation += 1;
    if (this.controller) this.controller.abort();
  }

  /** Start over with the backlog (after a new token, or a reset emptied it). */
  restart() {
    this.stop();
    this.lastId = null;
    this.start();
  }

  async connect(generation) {
    const current = () => generation === this.generation;
    while (current()) {
      this.controller = new AbortController();
      this.onState("connecting");
      const headers = {...authHeaders(), "Accept": "text/event-stream"};
      if (this.lastId !== null) headers["Last-Event-ID"] = this.lastId;
      try {
        const url = this.lastId === null ? "/__parlel/stream?last_event_id=0" : "/__parlel/stream";
        const response = await fetch(url, {headers, signal: this.controller.signal,
                                                          credentials: "omit", cache: "no-store"});
        if (response.status === 401 || response.status === 403) {
          // the token may not read the stream: say so, and ask again rarely (a new token restarts it)
          this.onState(`refused (${response.status}): set a token`);
          await new Promise(resolve => setTimeout(resolve, 30000));
          continue;  // the loop's condition ends it if a restart came meanwhile
        }
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        this.onState("replaying");
        await this.read(response.body.getReader());
      } catch (error) {
        if (!current()) return;
      }
      if (!current()) return;
      this.onState("retrying");
      await new Promise(resolve => setTimeout(resolve, this.retry));
    }
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    let event = {kind: "message", data: [], id: null};
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, {stream: true});
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (event.data.length) this.dispatch(event);
          event = {kind: "message", data: [], id: null};
          continue;
        }
        if (line.startsWith(":")) {  // a comment: the heartbeat, or the end of the replay
          if (line.startsWith(": live after")) this.onState("live");
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event.kind = value;
        else if (field === "data") event.data.push(value);
        else if (field === "id") { event.id = value; this.lastId = value; }
        else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
      }
    }
  }

  dispatch(event) {
    let data;
    try { data = JSON.parse(event.data.join("\n")); } catch (error) { return; }
    this.onRecord({kind: event.kind, id: event.id, data});
  }
}
