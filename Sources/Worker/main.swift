import Glibc
import Shared

// A spawned worker's argv carries only its user's name for `ps`: never read it as a flag.
if getenv(WorkerSpawner.workerMarker) == nil, let code = DevCommands.run(CommandLine.arguments) { exit(code) }
exit(WorkerMain.run())
