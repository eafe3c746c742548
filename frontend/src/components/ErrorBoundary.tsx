import { Component, type ErrorInfo, type ReactNode } from 'react';

/**
 * Catches render errors (and failed lazy chunk loads, e.g. after a deploy) so
 * the page shows what went wrong and a way out instead of going blank.
 */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo) {
    // Kept for the browser console of whoever debugs this page.
    console.warn('ClaraTeach: render error', error, info.componentStack);
  }

  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    const chunk = /dynamically imported module|Importing a module script failed|Failed to fetch/i.test(error.message);
    return (
      <main className="page narrow">
        <div className="card stack" role="alert">
          <h1>Something went wrong</h1>
          <p>
            {chunk
              ? 'Part of the app could not be loaded (a new version may have been deployed, or the connection dropped).'
              : error.message || 'An unexpected error happened.'}
          </p>
          <div className="btn-row">
            <button type="button" className="btn btn-primary" onClick={() => window.location.reload()}>
              Reload the page
            </button>
            <a className="btn" href="/">
              Start page
            </a>
          </div>
        </div>
      </main>
    );
  }
}
