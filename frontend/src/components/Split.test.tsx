import { useEffect } from 'react';
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import { Split } from './Split';

describe('Split', () => {
  it('resizes with the keyboard and remembers the layout', () => {
    const { unmount } = render(<Split storageKey="t" initial={30} first={<div>A</div>} second={<div>B</div>} label="Resize" />);
    const sep = screen.getByRole('separator', { name: 'Resize' });
    expect(sep).toHaveAttribute('aria-valuenow', '30');
    fireEvent.keyDown(sep, { key: 'ArrowRight' });
    fireEvent.keyDown(sep, { key: 'ArrowRight', shiftKey: true });
    expect(sep).toHaveAttribute('aria-valuenow', '42');
    expect(JSON.parse(localStorage.getItem('clarateach.layout.t')!)).toBe(42);
    unmount();
    render(<Split storageKey="t" initial={30} first={<div>A</div>} second={<div>B</div>} label="Resize" />);
    expect(screen.getByRole('separator', { name: 'Resize' })).toHaveAttribute('aria-valuenow', '42');
  });

  it('keeps within its bounds', () => {
    render(<Split storageKey="u" initial={50} min={20} max={80} first={<div>A</div>} second={<div>B</div>} label="Resize" />);
    const sep = screen.getByRole('separator', { name: 'Resize' });
    fireEvent.keyDown(sep, { key: 'End' });
    expect(sep).toHaveAttribute('aria-valuenow', '80');
    fireEvent.keyDown(sep, { key: 'Home' });
    expect(sep).toHaveAttribute('aria-valuenow', '20');
  });

  it('solo shows only the first pane, which stays mounted when the second comes and goes', () => {
    let mounts = 0;
    function First() {
      useEffect(() => {
        mounts++;
      }, []);
      return <div>A</div>;
    }
    const { rerender } = render(<Split storageKey="v" solo first={<First />} second={<div>B</div>} label="Resize" />);
    expect(screen.queryByRole('separator')).toBeNull();
    expect(screen.queryByText('B')).toBeNull();
    rerender(<Split storageKey="v" first={<First />} second={<div>B</div>} label="Resize" />);
    expect(screen.getByRole('separator', { name: 'Resize' })).toBeTruthy();
    expect(screen.getByText('B')).toBeTruthy();
    rerender(<Split storageKey="v" solo first={<First />} second={<div>B</div>} label="Resize" />);
    expect(mounts).toBe(1);
  });
});
