import { lazy, Suspense, type ReactNode } from 'react';
import { AuthProvider, RequireAuth } from './auth';
import { matchPath, useLocation, Link } from './router';
import { Spinner } from './components/ui';
import { ErrorBoundary } from './components/ErrorBoundary';
import { IsolationBanner } from './components/IsolationBanner';
import { Landing } from './pages/Landing';
import { AuthPage } from './pages/AuthPage';
import { Dashboard } from './pages/Dashboard';
import { RegisterPage } from './pages/Register';
import { JoinPage, AccessCodeForm } from './pages/Join';
import { AdminPage } from './pages/Admin';
import { DownloadPage } from './pages/Download';

// The class view and the workspace carry xterm.js and CodeMirror: load them on demand.
const ClassView = lazy(() => import('./pages/ClassView'));
// The markdown renderer is only needed from here on.
const CreateWorkshop = lazy(() => import('./pages/CreateWorkshop').then((m) => ({ default: m.CreateWorkshop })));

function Lazy({ children }: { children: ReactNode }) {
  return (
    <Suspense
      fallback={
        <main className="page narrow">
          <Spinner />
        </main>
      }
    >
      {children}
    </Suspense>
  );
}

function NotFound() {
  return (
    <main className="page narrow">
      <h1>Page not found</h1>
      <p>
        <Link to="/">Back to the start page</Link>
      </p>
    </main>
  );
}

export function Routes() {
  const { pathname } = useLocation();
  let m: Record<string, string> | null;
  if (pathname === '/') return <Landing />;
  if (pathname === '/signin' || pathname === '/login') return <AuthPage mode="signin" />;
  if (pathname === '/signup') return <AuthPage mode="signup" />;
  if (pathname === '/dashboard')
    return (
      <RequireAuth>
        <Dashboard />
      </RequireAuth>
    );
  if (pathname === '/admin')
    return (
      <RequireAuth>
        <AdminPage />
      </RequireAuth>
    );
  if (pathname === '/workshops/new')
    return (
      <RequireAuth>
        <Lazy>
          <CreateWorkshop />
        </Lazy>
      </RequireAuth>
    );
  if ((m = matchPath('/workshops/:id', pathname)))
    return (
      <RequireAuth>
        <Lazy>
          <ClassView id={m.id} />
        </Lazy>
      </RequireAuth>
    );
  if (pathname === '/join' || pathname === '/register') return <RegisterPage code="" />;
  if ((m = matchPath('/join/:code', pathname))) return <RegisterPage code={m.code} />;
  if (pathname === '/download') return <DownloadPage />;
  if (pathname === '/w') return <AccessCodeForm />;
  if ((m = matchPath('/w/:access', pathname))) return <JoinPage key={m.access} accessCode={m.access} />;
  return <NotFound />;
}

function RoutesWithBoundary() {
  const { pathname } = useLocation();
  // A new page gets a fresh boundary, so an error does not stick across navigation.
  return (
    <ErrorBoundary key={pathname}>
      <Routes />
    </ErrorBoundary>
  );
}

export function App() {
  return (
    <AuthProvider>
      <IsolationBanner />
      <RoutesWithBoundary />
    </AuthProvider>
  );
}
