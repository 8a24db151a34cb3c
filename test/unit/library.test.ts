/**
 * The Node library (src/index.ts, docs/API.md): every type a public method of the Host or of
 * a service it hands out takes or returns can be named by a program that imports vpsctl.
 * Types are erased when jest runs the tests, so both checks here run the TypeScript compiler:
 * test/unit/library-types.ts (each type imported from src/index.ts and used) must compile,
 * and a walk over the Host's public surface finds no type of ours that src/index.ts leaves out.
 */
import * as path from 'node:path';
import ts from 'typescript';

const REPO = process.cwd();
const INDEX = path.join(REPO, 'src', 'index.ts');
const FIXTURE = path.join(REPO, 'test', 'unit', 'library-types.ts');

/** The Host's state and plumbing, not the services a program calls: their types are not promised. */
const PLUMBING = new Set(['sys', 'images', 'runtime', 'templates', 'idmaps', 'snap', 'events', 'hooks', 'layout', 'cgroups', 'lock', 'lifecycle', 'inventory', 'monitorView', 'copyImage', 'copyProgress', 'provision', 'startLocked', 'stopLocked', 'runStopHooks', 'emit', 'progress']);

let program: ts.Program;
beforeAll(() => {
  const { config } = ts.readConfigFile(path.join(REPO, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, REPO);
  program = ts.createProgram([INDEX, FIXTURE], { ...options, noEmit: true, rootDir: REPO });
});

describe('the library', () => {
  it('test/unit/library-types.ts compiles: each type it names is exported by src/index.ts', () => {
    const diags = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === FIXTURE || d.file?.fileName === INDEX);
    expect(diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  });

  it("exports every type of ours that the Host's public methods and its services' take or return", () => {
    const checker = program.getTypeChecker();
    // by symbol, not by name: two types of one name (the ImportOptions of disk.ts and of templates) are two
    const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(INDEX)!)!).map((s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s)));
    const hostSym = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(path.join(REPO, 'src', 'core', 'host.ts'))!)!).find((s) => s.name === 'Host')!;
    const missing = new Map<string, string>();
    const visited = new Set<ts.Type>();
    const ours = (s: ts.Symbol | undefined): string | undefined => {
      const f = s?.declarations?.[0]?.getSourceFile().fileName;
      return f && f.startsWith(path.join(REPO, 'src') + path.sep) && !(s!.flags & ts.SymbolFlags.TypeParameter) ? path.relative(REPO, f) : undefined;
    };
    const need = (s: ts.Symbol, where: string): void => {
      const file = ours(s);
      const key = `${s.name} (${file}`;
      if (file && !exported.has(s) && !missing.has(key)) missing.set(key, `${key}, used by ${where})`);
    };
    // a type, what it is made of (unions, arrays, promises), and the members of our object types
    const walk = (t: ts.Type, where: string, depth: number): void => {
      if (visited.has(t) || depth > 4) return;
      visited.add(t);
      if (t.aliasSymbol) need(t.aliasSymbol, where);
      for (const a of t.aliasTypeArguments ?? []) walk(a, where, depth);
      if (t.isUnionOrIntersection()) return t.types.forEach((u) => walk(u, where, depth));
      if (t.flags & ts.TypeFlags.Object && (t as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) for (const a of checker.getTypeArguments(t as ts.TypeReference)) walk(a, where, depth);
      // a function (a callback option, a method of a result): what it takes and returns
      for (const s of t.getCallSignatures()) {
        for (const prm of s.getParameters()) walk(checker.getTypeOfSymbol(prm), `${where}(${prm.name})`, depth + 1);
        walk(s.getReturnType(), `${where}()`, depth + 1);
      }
      if (t.getCallSignatures().length && !t.getProperties().length) return;
      const sym = t.getSymbol();
      if (!sym || !ours(sym) || sym.flags & ts.SymbolFlags.Class) return;
      if (!t.aliasSymbol && sym.name !== '__type' && sym.name !== '__object') need(sym, where);
      for (const p of t.getProperties()) walk(checker.getTypeOfSymbol(p), `${where}.${p.name}`, depth + 1);
    };
    /** The public members of a class: what its methods take and return, and its services' own. */
    const members = (t: ts.Type, owner: string, services: boolean): void => {
      for (const p of t.getProperties()) {
        const decl = p.valueDeclaration ?? p.declarations?.[0];
        if (!decl || ts.getCombinedModifierFlags(decl) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected) || (services && PLUMBING.has(p.name))) continue;
        const pt = checker.getTypeOfSymbol(p);
        const sigs = pt.getCallSignatures();
        for (const s of sigs) {
          for (const prm of s.getParameters()) walk(checker.getTypeOfSymbol(prm), `${owner}.${p.name}(${prm.name})`, 0);
          walk(s.getReturnType(), `${owner}.${p.name}()`, 0);
        }
        if (sigs.length) continue;
        const cls = pt.getSymbol();
        if (services && cls && cls.flags & ts.SymbolFlags.Class && ours(cls)) {
          need(cls, `${owner}.${p.name}`);
          members(pt, `${owner}.${p.name}`, false);
        } else walk(pt, `${owner}.${p.name}`, 0);
      }
    };
    members(checker.getDeclaredTypeOfSymbol(hostSym), 'Host', true);
    expect([...missing.values()].sort()).toEqual([]);
  });
});
