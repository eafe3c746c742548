// The JSON types of the control plane's API, taken from the types generated
// from docs/openapi.yaml (schema.ts: `npm run gen:api`, never edited by hand).
//
// Where the spec does not say which fields are always sent (no `required`
// list yet), `Sent<T, K>` names them here, so pages need not check for
// undefined. Types with no schema in the spec are hand-written below and
// marked so.
import type { components, paths } from './schema';

type Schemas = components['schemas'];

/** T with the fields K always present (the server sends them on every answer). */
export type Sent<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: Exclude<T[P], undefined> };

type JsonBody<Op> = Op extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
type JsonAnswer<Op, Code extends number> = Op extends { responses: { [C in Code]: { content: { 'application/json': infer B } } } }
  ? B
  : never;

export type User = Sent<Schemas['User'], 'id' | 'email' | 'name' | 'role' | 'created_at'>;
export type Role = User['role'];

export type Workshop = Sent<
  Schemas['Workshop'],
  'id' | 'owner_id' | 'name' | 'code' | 'seats' | 'seats_used' | 'status' | 'desired_state' | 'created_at' | 'updated_at'
>;
export type WorkshopStatus = Workshop['status'];

export type ProvisionStep = Sent<Schemas['Step'], 'name' | 'status'>;
export type WorkshopEvent = Sent<Schemas['Event'], 'id' | 'at' | 'level' | 'message'>;

type VM = NonNullable<Schemas['WorkshopDetail']['vm']>;

export type WorkshopVM = Sent<Omit<VM, 'steps'>, 'name' | 'status'> & { steps: ProvisionStep[] };

export type WorkshopDetail = Workshop & {
  vm?: WorkshopVM | null;
  events?: WorkshopEvent[] | null;
};

export type Seat = Sent<Schemas['SeatView'], 'seat' | 'status'>;
/** "empty" = no learner on the seat yet; "down" = its machine is not answering (being restarted). */
export type SeatStatus = Seat['status'];

export type Registration = Sent<Schemas['Registration'], 'id' | 'name' | 'email' | 'created_at'>;

export type Endpoints = Sent<Schemas['Endpoints'], 'terminal' | 'files' | 'sessions'>;
export type SeatToken = Sent<Omit<Schemas['WorkspaceAccess'], 'endpoints'>, 'token' | 'expires_at'> & { endpoints: Endpoints };

export type RegisterResult = Sent<Schemas['Registered'], 'access_code' | 'workshop'> & {
  workshop: Sent<NonNullable<Schemas['Registered']['workshop']>, 'id' | 'name'>;
};

type JoinSchema = Schemas['Join'];
export type JoinResult = Sent<Omit<JoinSchema, 'workshop' | 'endpoints'>, 'status'> & {
  workshop: Sent<Omit<NonNullable<JoinSchema['workshop']>, 'status'>, 'id' | 'name'> & { status: WorkshopStatus };
  endpoints?: Endpoints;
};

/** The answer to a revoke: null when the host confirmed it at once (204). */
export type RevokeResult = JsonAnswer<paths['/api/workshops/{id}/registrations/{rid}']['delete'], 202>;
/** A reissued access code, shown to the instructor once. */
export type ReissueResult = JsonAnswer<paths['/api/workshops/{id}/registrations/{rid}/reissue']['post'], 200>;

/** The class view's live snapshot: one `workshop` event of GET /api/workshops/{id}/stream. */
export type ClassSnapshot = Omit<Schemas['ClassSnapshot'], 'workshop' | 'seats' | 'events' | 'registrations'> & {
  workshop: WorkshopDetail;
  seats: Seat[];
  events: WorkshopEvent[];
  registrations: Registration[];
};

export type NewWorkshop = JsonBody<paths['/api/workshops']['post']>;

export type SignupMode = NonNullable<JsonAnswer<paths['/api/auth/signup']['get'], 200>['mode']>;

export type Quota = Required<Schemas['Quota']>;
export type Usage = Required<Schemas['Usage']>;
export type UserRow = User & {
  /** null for admins: they have no quota. */
  quota: Quota | null;
  quota_custom: boolean;
  usage: Usage;
};

export type Invite = Sent<Schemas['Invite'], 'id' | 'created_by' | 'created_at' | 'expires_at' | 'status'>;
export type Member = Sent<Schemas['Member'], 'workshop_id' | 'user_id' | 'role' | 'email' | 'name' | 'created_at'>;

// ---- hand-written: the seat workspace's own API has no schema in docs/openapi.yaml
// (the control plane relays /api/workspaces/{ws}/{seat}/{rest} as is).

export interface TerminalSessionInfo {
  id: string;
  created_at?: string;
  clients?: number;
  cols?: number;
  rows?: number;
  exited?: boolean;
  /** Bytes of output so far. */
  offset?: number;
}

export interface FileEntry {
  name: string;
  path: string;
  type: 'file' | 'dir' | 'symlink';
  size: number;
  mtime: string;
}

export interface DirListing {
  path: string;
  entries: FileEntry[];
}
