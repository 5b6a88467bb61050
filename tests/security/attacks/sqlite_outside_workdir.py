# attack: sqlite3.connect creates a database file outside the work dir
# expect: blocked
import sqlite3
con = sqlite3.connect("/tmp/mnemos-attack-x.db")
con.execute("create table t(x)")
con.commit()
