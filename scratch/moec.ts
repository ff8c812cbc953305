import { main } from '../compiler/cli.ts';
process.exitCode = await main(process.argv.slice(2));
