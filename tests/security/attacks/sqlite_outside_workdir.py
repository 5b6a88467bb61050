# attack: sqlite3.connect creates a database file outside the work dir
# ruff: noqa - hostile programs kept as written
# expect: blocked
import sqlite3
con = sqlite3.connect("/tmp/mnemos-attack-x.db")
con.execute("create table t(x)")
con.commit()
