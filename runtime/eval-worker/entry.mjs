// The evaluation worker thread's entry: TypeScript through tsx (registered per thread), then the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
