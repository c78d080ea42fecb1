import Shared
import Storage
print("anki-sync-worker")
