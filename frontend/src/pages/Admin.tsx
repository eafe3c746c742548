import { useState, type FormEvent } from 'react';
import { admin, type Quota, type UserRow } from '../api';
import { useAuth } from '../auth';
import { useAction, useAsync } from '../hooks';
import { TopBar } from '../components/TopBar';
import { Button, CopyButton, ErrorBox, Spinner, StatusBadge } from '../components/ui';
import { formatDateTime } from '../format';

const LIMITS: { key: keyof Quota; label: string }[] = [
  { key: 'running_workshops', label: 'Running workshops' },
  { key: 'seats', label: 'Seats' },
  { key: 'workshop_hours', label: 'Hours per workshop' },
];

/** One account: its role, usage, and (instructors) an editable quota. */
function UserLine({ row, onChange }: { row: UserRow; onChange: () => void }) {
  const [draft, setDraft] = useState<Quota | null>(row.quota);
  const save = useAction(async () => {
    if (draft) await admin.setQuota(row.id, draft);
    onChange();
  });
  const reset = useAction(async () => {
    const r = await admin.resetQuota(row.id);
    setDraft(r.quota);
    onChange();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save.run();
  };
  return (
    <tr data-user={row.email}>
      <td>
        {row.name || row.email}
        <br />
        <span className="muted small">{row.email}</span>
      </td>
      <td>{row.role}</td>
      <td className="small">
        {row.usage.running_workshops} running · {row.usage.seats} seats
      </td>
      <td>
        {!draft ? (
          <span className="muted small">no quota (admin)</span>
        ) : (
          <form onSubmit={submit} className="btn-row quota-form" aria-label={`Quota of ${row.email}`}>
            {LIMITS.map((l) => (
              <label key={l.key} className="field field-small">
                <span>{l.label}</span>
                <input
                  type="number"
                  name={l.key}
                  min={l.key === 'workshop_hours' ? 1 : 0}
                  value={draft[l.key]}
                  onChange={(e) => setDraft({ ...draft, [l.key]: Number(e.target.value) })}
                  required
                />
              </label>
            ))}
            <Button type="submit" small variant="primary" busy={save.busy}>
              Save
            </Button>
            {row.quota_custom && (
              <Button small variant="ghost" busy={reset.busy} onClick={() => void reset.run()}>
                Use defaults
              </Button>
            )}
            <ErrorBox error={save.error ?? reset.error} />
          </form>
        )}
      </td>
    </tr>
  );
}

/** Makes an invite link and shows it once. */
function InviteForm({ signup, onDone }: { signup: string; onDone: () => void }) {
  const [email, setEmail] = useState('');
  const [link, setLink] = useState<string | null>(null);
  const make = useAction(async () => {
    const r = await admin.invite(email.trim() ? { email: email.trim() } : {});
    setLink(r.url);
    setEmail('');
    onDone();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void make.run();
  };
  return (
    <section className="card stack" aria-labelledby="invite-h">
      <h2 id="invite-h">Invite an instructor</h2>
      <form onSubmit={submit} className="btn-row" aria-busy={make.busy}>
        <label className="field grow">
          <span>Email{signup === 'closed' ? '' : ' (optional: empty makes a link for anyone)'}</span>
          <input name="invite_email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required={signup === 'closed'} />
        </label>
        <Button type="submit" variant="primary" busy={make.busy}>
          Create invite link
        </Button>
      </form>
      <ErrorBox error={make.error} />
      {link && (
        <div className="invite-link" data-testid="invite-link">
          <p className="small">Send this link; it is shown only now, works once and expires.</p>
          <p className="mono break">{link}</p>
          <CopyButton text={link} label="Copy link" />
        </div>
      )}
    </section>
  );
}

function Invites({ tick }: { tick: number }) {
  const list = useAsync((signal) => admin.invites(signal), [tick]);
  const withdraw = useAction(async (id: string) => {
    await admin.withdrawInvite(id);
    list.reload();
  });
  if (!list.data?.length) return <ErrorBox error={list.error} onRetry={list.reload} />;
  return (
    <section className="card" aria-labelledby="invites-h">
      <h2 id="invites-h">Invites</h2>
      <ErrorBox error={list.error ?? withdraw.error} onRetry={list.reload} />
      <table className="table">
        <tbody>
          {list.data.map((inv) => (
            <tr key={inv.id}>
              <td>{inv.email || <span className="muted">anyone with the link</span>}</td>
              <td>
                <StatusBadge status={inv.status} />
              </td>
              <td className="small muted">expires {formatDateTime(inv.expires_at)}</td>
              <td>
                {inv.status === 'pending' && (
                  <Button small variant="ghost" onClick={() => void withdraw.run(inv.id)}>
                    Withdraw
                  </Button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The admin page: accounts with their quotas, and invites. */
export function AdminPage() {
  const { user } = useAuth();
  const [tick, setTick] = useState(0);
  const users = useAsync((signal) => admin.users(signal), [tick]);
  const reload = () => setTick((t) => t + 1);
  if (user && user.role !== 'admin') {
    return (
      <div>
        <TopBar />
        <main className="page">
          <ErrorBox error="Only an administrator can open this page." />
        </main>
      </div>
    );
  }
  const d = users.data;
  return (
    <div>
      <TopBar />
      <main className="page wide">
        <div className="page-head">
          <h1>Instructors</h1>
          {d && (
            <p className="muted small">
              Sign-up: <strong>{d.signup}</strong> · default quota {d.default_quota.running_workshops} running workshops,{' '}
              {d.default_quota.seats} seats, {d.default_quota.workshop_hours} hours per workshop
            </p>
          )}
        </div>
        <ErrorBox error={users.error} onRetry={reload} />
        {users.loading && !d && <Spinner />}
        {d && <InviteForm signup={d.signup} onDone={reload} />}
        {d && (
          <section className="card" aria-labelledby="users-h">
            <h2 id="users-h">Accounts</h2>
            <table className="table users-table">
              <thead>
                <tr>
                  <th>Account</th>
                  <th>Role</th>
                  <th>Now</th>
                  <th>Quota</th>
                </tr>
              </thead>
              <tbody>
                {(d.users ?? []).map((u) => (
                  <UserLine key={u.id} row={u} onChange={reload} />
                ))}
              </tbody>
            </table>
          </section>
        )}
        <Invites tick={tick} />
      </main>
    </div>
  );
}
