/**
 * @file The lab's training Worker: it holds one pipeline (bundled with it by the server), posts its option schema,
 * and on 'start' trains it with the same RunSession as `distillery run`, posting steps, evaluations, live samples and
 * at the end the whole result. Pause, resume and stop act between steps. On wasm and cpu the evaluations along the
 * way run in a nested Worker (the same evaluation loop as the CLI's worker thread), so training goes on meanwhile.
 * Runs in a browser Worker; nothing here touches the DOM or Node.
 */
import { buildFromConfig, isPipeline, resolveConfig, type PipelineDef } from '../../dsl/pipeline.ts';
import { optionsJsonSchema, parseSets } from '../../dsl/options.ts';
import { printIR } from '../../dsl/ir/print.ts';
import { GraphError, UserError } from '../../dsl/errors.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { RunSession } from '../../runtime/session.ts';
import { teacherLadder } from '../../runtime/evaluate.ts';
import { connectEvalWorker, type EvalWorker } from '../../runtime/eval-worker/client.ts';
import type { EvalClientPort } from '../../runtime/eval-worker/protocol.ts';
import type { FromWorker, TargetPicture, ToWorker } from '../protocol.ts';
import type { GraphIR } from '../../dsl/ir/schema.ts';

interface Scope {
  postMessage(m: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  navigator?: { gpu?: unknown };
  /** absent where a worker cannot start workers: evaluation then stays in this one */
  Worker?: new (url: string, o: { type: 'module' }) => EvalClientPort;
}

/** the teacher's N-step Euler samplers the curve is read against */
const LEVELS = [4, 8, 16];

const stageOf = (e: unknown): 'options' | 'graph' | 'run' => (e instanceof GraphError ? 'graph' : 'run');
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

function targetPicture(ir: GraphIR): TargetPicture | undefined {
  const t = ir.eval && ir.datasets[ir.eval.target];
  if (t?.kind !== 'gmm' || t.means[0]!.length !== 2) return undefined;
  return { means: t.means, stds: t.stds, weights: t.weights };
}

export function serveWorker(def: PipelineDef<any>, scope: Scope = globalThis as unknown as Scope): void {
  if (!isPipeline(def)) throw new Error('the lab worker was bundled without a pipeline');
  const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);
  let pause: { wait: Promise<void>; go: () => void } | undefined;
  let stop = false;
  let running = false;

  const configOf = (sets: string[]) => resolveConfig(def, parseSets(def.options, sets, def.name), '--set') as unknown as Record<string, unknown>;

  async function start(m: Extract<ToWorker, { type: 'start' }>): Promise<void> {
    // a worker serves one run at a time, and may serve another after it: an earlier Stop or Pause is over
    stop = false;
    pause = undefined;
    let config: Record<string, unknown>;
    try {
      config = configOf(m.sets);
    } catch (e) {
      return post({ type: 'error', stage: 'options', message: messageOf(e) });
    }
    let ir: GraphIR;
    try {
      ir = buildFromConfig(def, config as never);
    } catch (e) {
      return post({ type: 'error', stage: 'graph', message: messageOf(e) });
    }
    // 'auto': webgpu only where the browser hands out an adapter (navigator.gpu alone may have none)
    const gpu = scope.navigator?.gpu as { requestAdapter?(): Promise<unknown> } | undefined;
    const hasGpu = m.backend === 'auto' && !!(await gpu?.requestAdapter?.().catch(() => null));
    const name = m.backend === 'auto' ? (hasGpu ? 'webgpu' : 'wasm') : m.backend;
    let backend;
    try {
      backend = await loadBackend(name, { wasmPaths: m.wasmPaths });
    } catch (e) {
      return post({ type: 'error', stage: 'backend', message: messageOf(e) });
    }
    post({ type: 'backend', name: backend.name });
    let session: RunSession | undefined;
    let evaluator: EvalWorker | undefined;
    let connecting: Promise<EvalWorker> | undefined;
    try {
      const view = async (step: number) => {
        if (!session?.setup || m.viewEvery <= 0 || (step - 1) % m.viewEvery !== 0) return;
        const s = await session.exe.sampleAsync(m.viewSamples, 'lab-view');
        const samples = Float32Array.from(s.data);
        post({ type: 'samples', step: step - 1, samples, d: session.setup.d }, [samples.buffer]);
      };
      // beside training where reads are synchronous (wasm, cpu); on webgpu evaluation overlaps the device's work here
      const away = !!m.evalWorker && !!ir.eval && backend.syncReads && !!scope.Worker;
      session = new RunSession(ir, backend, {
        seed: m.seed,
        evalSamples: m.evalSamples,
        ...(away ? { evaluator: (step: number, w: Parameters<EvalWorker['evaluate']>[1]) => evaluator!.evaluate(step, w) } : {}),
        gate: async (step) => {
          await view(step);
          if (pause) {
            post({ type: 'paused' });
            await pause.wait;
            post({ type: 'resumed' });
          }
          if (stop) return 'stop';
        },
      });
      const s = session;
      // it starts once the session has accepted the graph, and loads its backend while the teacher's ladder runs
      if (away) (connecting = connectEvalWorker(new scope.Worker!(m.evalWorker!, { type: 'module' }), { ir, seed: m.seed, backend: backend.name, evalSamples: m.evalSamples, ...(m.wasmPaths ? { wasmPaths: m.wasmPaths } : {}) })).catch(() => {});
      post({ type: 'compiled', ir, irText: printIR(ir), planText: s.planText, config, steps: s.steps, ...(targetPicture(ir) ? { target: targetPicture(ir)! } : {}) });
      if (s.setup?.kind === 'gmm' && ir.eval?.teacher) {
        const ladder = await teacherLadder(s.exe, s.setup, 'euler', LEVELS, 8);
        const samples = ladder.kept?.slice(0, m.viewSamples * s.setup.d);
        post({ type: 'teacher', levels: ladder.energyDistance, d: s.setup.d, ...(samples ? { samples } : {}) }, samples ? [samples.buffer] : []);
      }
      if (connecting) evaluator = await connecting;
      await new Promise<void>((resolve, reject) =>
        s.train().subscribe({
          next: ({ event: e }) => {
            post({ type: 'step', step: e.step, steps: s.steps, losses: e.losses, gradNorms: e.gradNorms, stepsPerSecond: e.stepsPerSecond, etaSeconds: (s.steps - e.step) / Math.max(e.stepsPerSecond, 1e-9) });
            if (e.eval) post({ type: 'eval', step: e.step, metrics: e.eval.metrics, inEvalWorker: away });
          },
          error: reject,
          // a stop (the gate's 'stop') ends the stream at a step boundary: it completes
          complete: resolve,
        }),
      );
      const r = await s.finish();
      const transfer = [r.samples?.buffer, r.teacherSamples?.buffer, ...Object.values(r.weights).map((w) => w.buffer)].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
      post({ type: 'done', run: { ir, config, planText: s.planText, summary: r.summary, rows: r.rows, weights: r.weights, ...(r.samples ? { samples: r.samples, d: r.d! } : {}), ...(r.teacherSamples ? { teacherSamples: r.teacherSamples } : {}) } }, transfer);
    } catch (e) {
      post({ type: 'error', stage: e instanceof UserError ? 'run' : stageOf(e), message: messageOf(e) });
    } finally {
      session?.dispose();
      await (evaluator ?? (await connecting?.catch(() => undefined)))?.close();
    }
  }

  scope.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === 'validate') {
      try {
        post({ type: 'options', ok: true, config: configOf(m.sets) });
      } catch (e) {
        post({ type: 'error', stage: 'options', message: messageOf(e) });
      }
    } else if (m.type === 'start') {
      if (running) return post({ type: 'error', stage: 'run', message: 'a run is already going in this worker' });
      running = true;
      void start(m).finally(() => (running = false));
    } else if (m.type === 'pause') {
      if (!pause) {
        let go!: () => void;
        const wait = new Promise<void>((r) => (go = r));
        pause = { wait, go };
      }
    } else if (m.type === 'resume' || m.type === 'stop') {
      if (m.type === 'stop') stop = true;
      pause?.go();
      pause = undefined;
    }
  };
  post({ type: 'ready', name: def.name, schema: optionsJsonSchema(def.options), defaults: def.defaults as unknown as Record<string, unknown>, ...(def.description ? { description: def.description } : {}), ...(def.at ? { at: def.at } : {}) });
}
