import Shared
print("anki-sync-server \(SharedVersion.string)")
