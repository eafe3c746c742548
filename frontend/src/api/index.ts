// Every call the web app makes to the control plane and to a learner's
// workspace, and the JSON types of the contract (docs/openapi.yaml, from
// which ./schema.ts is generated: `npm run gen:api`).
export { ApiError, errorMessage, request, sentence, type RequestOptions } from './http';
export * from './types';
export { login, logout, me, registerInstructor, signedIn, signupMode } from './auth';
export { joinLink, members, workshops, workspaceLink } from './workshops';
export { admin } from './admin';
export { learner } from './learner';
export { WorkspaceClient, saveBlob, type TokenSource } from './workspace';
export { labs, labBase, labProblems, LearnerLabClient } from './labs';
export type { Lab, LabSummary, LabStep, StepProgress, CheckResult, Hand, Broadcast, LearnerProgress, ProgressMatrix, LearnerLab, LabProblem, LabSetup, PushResult, PushFile } from './labs';
export { PreviewClient, readEvents, seatBase } from './preview';
export type { ListeningPort, PortList, PreviewOpen, PreviewShare, PreviewShareList } from './preview';
