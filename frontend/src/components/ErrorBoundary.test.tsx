import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/react';
import { ErrorBoundary } from './ErrorBoundary';

function Boom({ msg }: { msg: string }): never {
  throw new Error(msg);
}

describe('ErrorBoundary', () => {
  it('shows the error and a way out instead of a blank page', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    render(
      <ErrorBoundary>
        <Boom msg="kaboom" />
      </ErrorBoundary>,
    );
    expect(screen.getByRole('alert')).toHaveTextContent('kaboom');
    expect(screen.getByRole('button', { name: 'Reload the page' })).toBeInTheDocument();
  });

  it('explains a chunk that failed to load', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    render(
      <ErrorBoundary>
        <Boom msg="Failed to fetch dynamically imported module: /assets/Workspace-abc.js" />
      </ErrorBoundary>,
    );
    expect(screen.getByRole('alert')).toHaveTextContent(/could not be loaded/);
  });
});
