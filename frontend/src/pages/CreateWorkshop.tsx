import { useState, type FormEvent } from 'react';
import { workshops } from '../api';
import { useAction, useAsync } from '../hooks';
import { Link, navigate } from '../router';
import { TopBar } from '../components/TopBar';
import { Button, ErrorBox } from '../components/ui';
import { Markdown } from '../components/Markdown';
import { localInputToISO } from '../format';

const SAMPLE_GUIDE = `# Welcome

Your workspace is a private Linux machine. Try:

\`\`\`bash
echo "hello from $(hostname)"
\`\`\`
`;

// Each seat's home is limited to this much disk (the server's bounds: 256 MiB..64 GiB).
const DEFAULT_DISK_GIB = 2;
const MIN_DISK_GIB = 0.25;
const MAX_DISK_GIB = 64;

export function CreateWorkshop() {
  const [name, setName] = useState('');
  const [seats, setSeats] = useState(10);
  const [startsAt, setStartsAt] = useState('');
  const [endsAt, setEndsAt] = useState('');
  const [guide, setGuide] = useState(SAMPLE_GUIDE);
  const [diskGiB, setDiskGiB] = useState(DEFAULT_DISK_GIB);
  const [tab, setTab] = useState<'write' | 'preview'>('write');
  const [startNow, setStartNow] = useState(false);
  const [labServers, setLabServers] = useState('');
  const [learnerRoot, setLearnerRoot] = useState(false);
  const [image, setImage] = useState('');
  const [pullUser, setPullUser] = useState('');
  const [pullPassword, setPullPassword] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  // The server's MAX_SEATS: the form offers no more than it accepts.
  const limits = useAsync((signal) => workshops.limits(signal), []);
  const maxSeats = limits.data?.max_seats;

  const { run, busy, error } = useAction(async () => {
    const environment = image.trim();
    const w = await workshops.create({
      name: name.trim(),
      seats,
      starts_at: localInputToISO(startsAt),
      ends_at: localInputToISO(endsAt),
      lab_guide: guide,
      egress_allow: labServers.split(/[\s,]+/).filter(Boolean),
      disk_mb: Math.round(diskGiB * 1024),
      learner_root: learnerRoot,
      ...(environment ? { environment } : {}),
      ...(environment && pullUser && pullPassword
        ? { environment_auth: { username: pullUser.trim(), password: pullPassword } }
        : {}),
    });
    if (startNow) await workshops.start(w.id);
    navigate(`/workshops/${encodeURIComponent(w.id)}`);
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setFormError(null);
    if (!image.trim() && (pullUser || pullPassword)) {
      setFormError('A pull secret needs an environment image.');
      return;
    }
    if (image.trim() && !pullUser !== !pullPassword) {
      setFormError('A pull secret needs both a user name and a password (or neither, for a public image).');
      return;
    }
    if (startsAt && endsAt && new Date(endsAt) <= new Date(startsAt)) {
      setFormError('The end time must be after the start time.');
      return;
    }
    void run();
  };

  return (
    <div>
      <TopBar />
      <main className="page">
        <div className="page-head">
          <h1>New workshop</h1>
          <Link to="/dashboard">Cancel</Link>
        </div>
        <form className="card stack create-form" onSubmit={submit} aria-busy={busy}>
          <div className="grid-2">
            <label className="field">
              <span>Name</span>
              <input name="name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} autoFocus />
            </label>
            <label className="field">
              <span>Seats{maxSeats ? ` (up to ${maxSeats})` : ''}</span>
              <input
                name="seats"
                type="number"
                min={1}
                max={maxSeats}
                value={seats}
                onChange={(e) => setSeats(Number(e.target.value))}
                required
              />
            </label>
            <label className="field">
              <span>Disk per seat (GiB)</span>
              <input
                name="disk_gib"
                type="number"
                min={MIN_DISK_GIB}
                max={MAX_DISK_GIB}
                step={0.25}
                value={diskGiB}
                onChange={(e) => setDiskGiB(Number(e.target.value))}
                required
              />
            </label>
            <label className="field">
              <span>Starts (optional)</span>
              <input name="starts_at" type="datetime-local" value={startsAt} onChange={(e) => setStartsAt(e.target.value)} />
            </label>
            <label className="field">
              <span>Ends (optional; machines are torn down then)</span>
              <input name="ends_at" type="datetime-local" value={endsAt} onChange={(e) => setEndsAt(e.target.value)} />
            </label>
          </div>
          <div className="field">
            <div className="tabs-inline" role="tablist" aria-label="Lab guide">
              <span className="field-label">Lab guide (Markdown)</span>
              <button type="button" role="tab" aria-selected={tab === 'write'} onClick={() => setTab('write')}>
                Write
              </button>
              <button type="button" role="tab" aria-selected={tab === 'preview'} onClick={() => setTab('preview')}>
                Preview
              </button>
            </div>
            <div className="guide-editor">
              <textarea
                name="lab_guide"
                aria-label="Lab guide markdown"
                className={tab === 'write' ? '' : 'hide-narrow'}
                value={guide}
                onChange={(e) => setGuide(e.target.value)}
                rows={16}
                spellCheck
              />
              <div className={`guide-preview card-inset ${tab === 'preview' ? '' : 'hide-narrow'}`} aria-label="Preview">
                <Markdown source={guide} onRun={() => undefined} />
              </div>
            </div>
          </div>
          <details>
            <summary>Lab servers (advanced)</summary>
            <label className="field">
              <span>
                Seats reach the public internet only. List private addresses the learners need, one per line, as
                CIDR and optional port (for example <code>10.128.0.7:5432</code>).
              </span>
              <textarea
                name="egress_allow"
                value={labServers}
                onChange={(e) => setLabServers(e.target.value)}
                rows={3}
                spellCheck={false}
                placeholder="10.128.0.7:5432"
              />
            </label>
          </details>
          <details>
            <summary>Environment (advanced)</summary>
            <label className="field">
              <span>
                Container image the learners&apos; machines run, for example <code>python:3.12-slim</code> or{' '}
                <code>ghcr.io/org/course:2026</code>. Empty: the host&apos;s own system, or the image the lab names.
              </span>
              <input
                name="environment"
                value={image}
                onChange={(e) => setImage(e.target.value)}
                maxLength={512}
                spellCheck={false}
                placeholder="python:3.12-slim"
              />
            </label>
            <div className="grid-2">
              <label className="field">
                <span>Registry user (private images only)</span>
                <input name="pull_user" value={pullUser} onChange={(e) => setPullUser(e.target.value)} autoComplete="off" />
              </label>
              <label className="field">
                <span>Registry password or token</span>
                <input
                  name="pull_password"
                  type="password"
                  value={pullPassword}
                  onChange={(e) => setPullPassword(e.target.value)}
                  autoComplete="new-password"
                />
              </label>
            </div>
            <p className="muted">
              The machines pull the image when the workshop starts; a bad image stops the start with the reason. The
              pull secret is stored sealed and never shown again.
            </p>
          </details>
          <details>
            <summary>Root for learners (advanced)</summary>
            <label className="check">
              <input
                type="checkbox"
                name="learner_root"
                checked={learnerRoot}
                onChange={(e) => setLearnerRoot(e.target.checked)}
              />{' '}
              Learners are root in their own machine
            </label>
            <p className="muted">
              They can install packages (<code>apt-get install</code>, when the machine reaches the internet) and change
              files outside their home, in their own copy of the environment. The host, other learners and the
              machine&apos;s limits stay out of their reach. On microVM hosts they are root of their virtual machine,
              whose system is their own writable copy.
            </p>
          </details>
          <label className="check">
            <input type="checkbox" checked={startNow} onChange={(e) => setStartNow(e.target.checked)} /> Start preparing
            the machines now
          </label>
          <ErrorBox error={formError ?? error} />
          <div className="btn-row">
            <Button type="submit" variant="primary" busy={busy}>
              Create workshop
            </Button>
          </div>
        </form>
      </main>
    </div>
  );
}
