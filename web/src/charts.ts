import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** A small time-series chart (uPlot) of one or more series in `el`; returns a function to give it new data. */
export function lineChart(
  el: HTMLElement,
  title: string,
  series: { label: string; color: string }[],
  format: (v: number) => string,
): { set(t: number[], ys: (number | null)[][]): void; destroy(): void } {
  const width = () => Math.max(240, el.clientWidth - 8);
  const plot = new uPlot(
    {
      title,
      width: width(),
      height: 160,
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          value: (_u: uPlot, v: number | null) => (v == null ? '–' : format(v)),
        })),
      ],
      axes: [
        { stroke: 'currentColor' },
        { stroke: 'currentColor', size: 84, values: (_u, vals) => vals.map((v) => format(v)) },
      ],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(max, 1) * 1.1] } },
      legend: { live: false },
    },
    [[], ...series.map(() => [])],
    el,
  );
  const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 160 }));
  ro.observe(el);
  return {
    set: (t, ys) => plot.setData([t, ...ys] as uPlot.AlignedData),
    destroy: () => {
      ro.disconnect();
      plot.destroy();
    },
  };
}
