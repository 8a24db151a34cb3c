import { Args, Flags } from '@oclif/core';
import { invalid } from '../core/errors.js';
import { WAIVABLE_FEATURES } from '../core/host.js';
import { validateId, validateSnapshotName, validateTemplateName } from '../core/ids.js';
import { parseDuration, parseSize } from '../core/units.js';

/** A container id argument, validated before anything else happens. */
export const idArg = Args.string({
  name: 'id',
  description: 'container id (a DNS label: 101, web-1)',
  required: true,
  parse: async (s) => validateId(s),
});

export const templateFlag = Flags.custom<string>({
  description: 'OS template (see `vpsctl template list`)',
  helpValue: 'NAME',
  parse: async (s) => validateTemplateName(s),
});

export const sizeFlag = Flags.custom<number>({
  helpValue: 'SIZE',
  parse: async (s) => {
    const n = parseSize(s, 'size');
    if (n <= 0) throw invalid(`size must be greater than zero, got ${JSON.stringify(s)}`);
    return n;
  },
});

export const durationFlag = Flags.custom<number>({
  helpValue: 'DURATION',
  parse: async (s) => parseDuration(s),
});

/** What `start` and `restart` share: waiting for systemd, and waiving a missing confinement feature. */
export const startFlags = {
  wait: Flags.boolean({ char: 'w', description: 'wait until systemd reports running or degraded' }),
  'unsafe-allow-missing': Flags.string({
    description: 'start even though this confinement feature is missing (repeatable; for developers who know why)',
    options: [...WAIVABLE_FEATURES],
    multiple: true,
    helpValue: 'FEATURE',
  }),
};

/** A snapshot name argument, validated before anything else happens. */
export const snapshotArg = Args.string({
  name: 'name',
  description: 'snapshot name (see `vpsctl snapshot list ID`)',
  required: true,
  parse: async (s) => validateSnapshotName(s),
});
