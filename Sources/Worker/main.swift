import Glibc
import Shared

if let code = DevCommands.run(CommandLine.arguments) { exit(code) }
exit(WorkerMain.run())
