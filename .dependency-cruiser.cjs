/**
 * The layering of docs/ARCHITECTURE.md, checked by `npm run lint` (and so by CI):
 *
 *   src/commands -> src/cli | src/api (the daemon) -> src/core (Host and its services) -> subsystems -> src/sys -> src/base
 *
 * src/base holds plain modules (errors, ids, units, ip, config and settings parsing, limits,
 * cron) that anything may import and that import nothing of ours. A type-only import is free
 * to cross a layer: it is erased at build time and carries no behaviour.
 */
const SUBSYSTEMS = '^src/(storage|runtime|limits|net|templates|distro)/';
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'No import cycle among modules (type-only imports aside).',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] }, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'base-is-the-bottom',
      severity: 'error',
      comment: 'src/base imports nothing of ours but src/base.',
      from: { path: '^src/base/' },
      to: { path: '^src/', pathNot: '^src/base/' },
    },
    {
      name: 'sys-over-base-only',
      severity: 'error',
      comment: 'src/sys (the system boundary) builds on src/base alone.',
      from: { path: '^src/sys/' },
      to: { path: '^src/', pathNot: '^src/(base|sys)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'subsystems-not-sideways',
      severity: 'error',
      comment: 'A subsystem uses src/base, src/sys and itself; another subsystem or src/core only through types.',
      from: { path: '^src/(storage|runtime|limits|net|templates|distro)/' },
      to: { path: '^src/', pathNot: ['^src/(base|sys)/', '^src/$1/'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'commands-are-thin',
      severity: 'error',
      comment: 'A command uses src/cli, the Host (src/core/host.ts), src/base and the API server (the daemon command); what else it names, it names as a type.',
      from: { path: '^src/commands/' },
      to: { path: '^src/', pathNot: ['^src/(cli|base|commands)/', '^src/core/host\\.ts$', '^src/api/server\\.ts$'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'api-over-host',
      severity: 'error',
      comment: 'src/api (the REST daemon) is a client of the Host like the CLI: the Host, src/base, src/sys and itself.',
      from: { path: '^src/api/' },
      to: { path: '^src/', pathNot: ['^src/(api|base|sys)/', '^src/core/host\\.ts$'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'cli-over-host',
      severity: 'error',
      comment: 'src/cli (base command, flags, rendering) uses the Host, src/base and src/sys reads; never a service or subsystem directly.',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: ['^src/(cli|base|sys)/', '^src/core/host\\.ts$'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'The library (core and below) never depends on the CLI.',
      from: { path: '^src/(base|sys|core|storage|runtime|limits|net|templates|distro)/' },
      to: { path: '^src/(cli|commands|api)/' },
    },
    {
      name: 'only-sys-runs-programs',
      severity: 'error',
      comment: 'Programs run only through src/sys (execa, child_process, node-pty).',
      from: { path: '^src/', pathNot: '^src/sys/' },
      to: { path: '(^|/)node_modules/(execa|node-pty)/|^child_process$|^node:child_process$', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
