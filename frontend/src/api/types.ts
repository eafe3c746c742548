// The JSON types of the control plane's API: the app's names for the schemas
// generated from docs/openapi.yaml (schema.ts: `npm run gen:api`, never
// edited by hand). Types with no schema in the spec are hand-written at the
// end and marked so.
import type { components, paths } from './schema';

type Schemas = components['schemas'];

type JsonBody<Op> = Op extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

export type User = Schemas['User'];
export type Role = User['role'];
export type Workshop = Schemas['Workshop'];
export type WorkshopStatus = Workshop['status'];
export type ProvisionStep = Schemas['Step'];
export type WorkshopEvent = Schemas['Event'];
/** The workshop's host as the class view shows it (name, status, provisioning steps). */
export type WorkshopVM = Schemas['Host'];
export type WorkshopDetail = Schemas['WorkshopDetail'];
/** One of a workshop's hosts: its number, name, state (and why) and the seats placed on it. */
export type WorkshopHost = Schemas['WorkshopHost'];
export type HostState = WorkshopHost['state'];
export type Seat = Schemas['SeatView'];
/** "empty" = no learner on the seat yet; "down" = its machine is not answering (being restarted). */
export type SeatStatus = Seat['status'];
export type Registration = Schemas['Registration'];
export type Endpoints = Schemas['Endpoints'];
export type SeatToken = Schemas['WorkspaceAccess'];
export type RegisterResult = Schemas['Registered'];
export type JoinResult = Schemas['Join'];
/** The answer to a revoke the host has not confirmed yet (202); a confirmed one is 204. */
export type RevokeResult = Schemas['RevokePending'];
/** A reissued access code, shown to the instructor once. */
export type ReissueResult = Schemas['Reissued'];
/** The class view's live snapshot: one `workshop` event of GET /api/workshops/{id}/stream. */
export type ClassSnapshot = Schemas['ClassSnapshot'];
/** What changed since the stream's previous event: one `delta` event of the same stream. */
export type ClassDelta = Schemas['ClassDelta'];
export type NewWorkshop = JsonBody<paths['/api/workshops']['post']>;
/** The fields of PATCH /api/workshops/{id} (only those given change). */
export type WorkshopPatch = JsonBody<paths['/api/workshops/{id}']['patch']>;
/** What the learner's workspace polls: the guide's version, the lab version, who watches. */
export type LearnerLive = Schemas['LearnerLive'];
/** The server's limits for forms (GET /api/auth/me). */
export type Limits = Schemas['Limits'];
export type SignupMode = Schemas['SignupInfo']['mode'];
export type Quota = Schemas['Quota'];
export type Usage = Schemas['Usage'];
export type UserRow = Schemas['UserRow'];
export type UserList = Schemas['UserList'];
export type Invite = Schemas['Invite'];
export type InviteCreated = Schemas['InviteCreated'];
export type Member = Schemas['Member'];
export type MemberList = Schemas['MemberList'];
export type Me = Schemas['Me'];

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
