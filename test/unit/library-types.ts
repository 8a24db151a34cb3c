/**
 * A program that imports vpsctl, type by type: test/unit/library.test.ts compiles it, so a type
 * src/index.ts stops exporting (or that no longer fits what its method returns) fails there.
 * Never run; types only.
 */
import type {
  Access, AllResult, Amount, ApplyResult, BatchRow, Boot, BuildOptions, BuildResult, CgroupUsage, Check, Cidr, CloneMethod, CompactResult, ConsoleEnd,
  ContainerConfig, ContainerState, ContainerStats, ContainerStatus, ContainerSummary, CreateOptions, DevicePass, Disks, DownloadOptions, EventFilter,
  EventKind, EventSource, ExecOptions, ExecResult, ExportResult, Feature, Host, HookEvent, HookMap, HostAdmin, HostCheckReport, HostCheckResult,
  HostInfo, HostOptions, HostSettings, Identities, Identity, IdMap, ImportOptions, ImportResult, Limits, NetChange, NetFinding, NetMode, NetRate,
  NetSettings, NetworkConfig, NetworkInput, NetworkStatus, Networks, OsInfo, PersonalityName, PersonalityResult, Pool, PoolInfo, PoolInitOptions,
  PoolRecord, PoolReport, PortForward, Progress, Promised, PruneOptions, Pruned, Reservation, ResizeResult, Resources, RuntimeState, ScheduleResult,
  SetLimitsResult, SetupStep, SnapshotCreated, SnapshotCreateOptions, SnapshotListing, SnapshotPolicy, Snapshots, Space, SpaceFigures, StartOptions,
  StartResult, StopOptions, StopResult, TemplateDetails, TemplateImportOptions, TemplateImportRecord, TemplateInfo, TemplateOps,
} from '../../src/index.js';

/** Every type the library promises, named once. */
export type Vocabulary = [
  Access, AllResult, Amount, ApplyResult, BatchRow, Boot, BuildOptions, BuildResult, CgroupUsage, Check, Cidr, CloneMethod, CompactResult, ConsoleEnd,
  ContainerConfig, ContainerState, ContainerStats, ContainerStatus, ContainerSummary, CreateOptions, DevicePass, Disks, DownloadOptions, EventFilter,
  EventKind, EventSource, ExecOptions, ExecResult, ExportResult, Feature, HookEvent, HookMap, HostAdmin, HostCheckReport, HostCheckResult,
  HostInfo, HostOptions, HostSettings, Identities, Identity, IdMap, ImportOptions, ImportResult, Limits, NetChange, NetFinding, NetMode, NetRate,
  NetSettings, NetworkConfig, NetworkInput, NetworkStatus, Networks, OsInfo, PersonalityName, PersonalityResult, Pool, PoolInfo, PoolInitOptions,
  PoolRecord, PoolReport, PortForward, Progress, Promised, PruneOptions, Pruned, Reservation, ResizeResult, Resources, RuntimeState, ScheduleResult,
  SetLimitsResult, SetupStep, SnapshotCreated, SnapshotCreateOptions, SnapshotListing, SnapshotPolicy, Snapshots, Space, SpaceFigures, StartOptions,
  StartResult, StopOptions, StopResult, TemplateDetails, TemplateImportOptions, TemplateImportRecord, TemplateInfo, TemplateOps,
];

/** What a control panel writes: each result held in a variable of its exported type. */
export async function panel(host: Host): Promise<void> {
  const exported: ExportResult = await host.disks.export('101', '/backup/101.vps.tar.zst');
  const imported: ImportResult = await host.disks.import(exported.file, '102', { hostname: 'copy' } satisfies ImportOptions);
  const resized: ResizeResult = await host.disks.resize(imported.id, 20 * 1024 ** 3);
  const compacted: CompactResult = await host.disks.compact(resized.id);
  const prune: PruneOptions = {} as PruneOptions;
  const pruned: Pruned[] = await host.snapshots.prune([compacted.id], prune);
  const built: BuildResult = await host.buildTemplate('debian-12');
  const templates: TemplateInfo[] = await host.listTemplates();
  const steps: SetupStep[] = await host.setup();
  const state: RuntimeState = await host.running('101');
  const end: ConsoleEnd = await host.console('101', { notice: () => undefined });
  const hooks: HookMap = (await host.setHooks('101', {})).hooks;
  const pool: PoolInfo = await host.initPool({} as PoolInitOptions);
  const settings: HostSettings = host.settings;
  const net: NetChange = { add: ['10.88.0.5'], rate: { in: 8_000_000, out: 8_000_000 } satisfies NetRate };
  const set = await host.setIdentity('101', {}, net);
  const status: NetworkStatus | null | undefined = set.network;
  const personality: PersonalityResult | undefined = set.result;
  void [pruned, built, templates, steps, state, end, hooks, pool, settings, status, personality];
}
