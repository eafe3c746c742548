import { useEffect, useState } from 'react';
import { Spinner } from './ui';

/** A QR code for `text`, rendered locally as SVG (the library loads on demand). */
export function QrCode({ text, size = 220 }: { text: string; size?: number }) {
  const [svg, setSvg] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    import('qrcode')
      .then((m) => m.toString(text, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' }))
      .then((s) => live && setSvg(s))
      .catch((e: unknown) => live && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [text]);
  if (error) return <p className="muted">Could not draw the QR code: {error}</p>;
  if (!svg) return <Spinner label="Drawing QR code…" />;
  return (
    <img
      className="qr"
      width={size}
      height={size}
      alt={`QR code for ${text}`}
      src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`}
    />
  );
}
