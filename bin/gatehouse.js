#!/usr/bin/env node
// The `gatehouse` command. Node 24 runs the TypeScript source directly (type stripping).
import '../apps/cli/main.ts';
