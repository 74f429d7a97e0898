import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';

/**
 * A terminal in `el` wired to the dashboard's WebSocket at `path` (a container's exec, or the instance's shell):
 * keystrokes go as binary frames, a size change as a text frame {"resize":{cols,rows}}.
 */
export function openTerminal(el: HTMLElement, path: string, onEnd: (why: string) => void): () => void {
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  const term = new Terminal({
    cursorBlink: true,
    fontSize: 13,
    theme: dark
      ? { background: '#111418' }
      : { background: '#fbfbfc', foreground: '#1d2126', cursor: '#1d2126' },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`);
  ws.binaryType = 'arraybuffer';
  const enc = new TextEncoder();
  const resize = () => {
    fit.fit();
    if (ws.readyState === WebSocket.OPEN)
      ws.send(JSON.stringify({ resize: { cols: term.cols, rows: term.rows } }));
  };
  ws.onopen = () => {
    resize();
    term.focus();
  };
  ws.onmessage = (e) =>
    term.write(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer));
  ws.onclose = (e) => onEnd(e.reason || 'ended');
  term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(enc.encode(d)));
  const ro = new ResizeObserver(() => resize());
  ro.observe(el);
  return () => {
    ro.disconnect();
    ws.close();
    term.dispose();
  };
}
