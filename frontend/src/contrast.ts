// WCAG 2 contrast of two colours (#rgb, #rrggbb, rgb() or rgba() over the
// second colour). Used by tests of the palettes; the browser test measures
// the rendered page with the same formula.

type RGB = [number, number, number];

export function parseColor(c: string): { rgb: RGB; alpha: number } {
  const s = c.trim().toLowerCase();
  if (s.startsWith('#')) {
    const h = s.length === 4 ? s.slice(1).split('').map((x) => x + x).join('') : s.slice(1, 7);
    return { rgb: [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as RGB, alpha: 1 };
  }
  const m = /rgba?\(([^)]+)\)/.exec(s);
  if (!m) throw new Error(`unknown colour ${c}`);
  const parts = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
  return { rgb: [parts[0], parts[1], parts[2]], alpha: parts.length > 3 ? parts[3] : 1 };
}

function luminance([r, g, b]: RGB): number {
  const lin = (v: number) => {
    const x = v / 255;
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** The contrast ratio of `fg` drawn on `bg` (an fg with alpha is blended over bg). */
export function contrastRatio(fg: string, bg: string): number {
  const b = parseColor(bg).rgb;
  const f = parseColor(fg);
  const mixed = f.rgb.map((v, i) => v * f.alpha + b[i] * (1 - f.alpha)) as RGB;
  const [hi, lo] = [luminance(mixed), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
