// Two resizable panes with a draggable, keyboard-operable divider. The split
// (a percentage) is remembered in localStorage under `storageKey`. With
// `solo` only the first pane shows, in the same place in the tree (its
// contents are not mounted again when the second comes and goes).
import { useCallback, useRef, type KeyboardEvent, type PointerEvent, type ReactNode } from 'react';
import { useStoredState } from '../hooks';

export function Split({
  storageKey,
  direction = 'horizontal',
  initial = 50,
  min = 10,
  max = 90,
  first,
  second,
  className,
  label,
  solo = false,
}: {
  storageKey: string;
  direction?: 'horizontal' | 'vertical';
  initial?: number;
  min?: number;
  max?: number;
  first: ReactNode;
  second: ReactNode;
  className?: string;
  label?: string;
  solo?: boolean;
}) {
  const [pct, setPct] = useStoredState<number>(`clarateach.layout.${storageKey}`, initial);
  const ref = useRef<HTMLDivElement>(null);
  const clamp = useCallback((v: number) => Math.max(min, Math.min(max, v)), [min, max]);
  const horizontal = direction === 'horizontal';

  const onPointerDown = (e: PointerEvent<HTMLDivElement>) => {
    const el = ref.current;
    if (!el) return;
    e.preventDefault();
    const target = e.currentTarget;
    target.setPointerCapture?.(e.pointerId);
    const rect = el.getBoundingClientRect();
    document.body.classList.add(horizontal ? 'resizing-x' : 'resizing-y');
    const move = (ev: globalThis.PointerEvent) => {
      const v = horizontal
        ? ((ev.clientX - rect.left) / rect.width) * 100
        : ((ev.clientY - rect.top) / rect.height) * 100;
      setPct(Math.round(clamp(v) * 10) / 10);
    };
    const up = () => {
      document.body.classList.remove('resizing-x', 'resizing-y');
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const step = e.shiftKey ? 10 : 2;
    const dec = horizontal ? 'ArrowLeft' : 'ArrowUp';
    const inc = horizontal ? 'ArrowRight' : 'ArrowDown';
    if (e.key === dec) setPct(clamp(pct - step));
    else if (e.key === inc) setPct(clamp(pct + step));
    else if (e.key === 'Home') setPct(min);
    else if (e.key === 'End') setPct(max);
    else return;
    e.preventDefault();
  };

  return (
    <div ref={ref} className={`split split-${direction} ${className ?? ''}`}>
      <div className="split-pane" style={{ flexBasis: solo ? '100%' : `${pct}%` }}>
        {first}
      </div>
      {!solo && (
        <div
          className="split-divider"
          role="separator"
          tabIndex={0}
          aria-orientation={horizontal ? 'vertical' : 'horizontal'}
          aria-valuenow={Math.round(pct)}
          aria-valuemin={min}
          aria-valuemax={max}
          aria-label={label ?? 'Resize panels'}
          onPointerDown={onPointerDown}
          onKeyDown={onKeyDown}
          onDoubleClick={() => setPct(initial)}
        />
      )}
      {!solo && <div className="split-pane split-pane-rest">{second}</div>}
    </div>
  );
}
