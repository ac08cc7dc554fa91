"""The beian benchmark (GitHub issue #10): beian against PostGraphile v4 and a pgbench ceiling, on the same
PostgreSQL data, in one run, and the other operations the issue names. Start it through bench/run.sh (which builds
the release binary and installs the load tools); BENCHMARKS.md at the repository root says what is measured and how
to read the figures.

Standard library only (Python 3.11). Settings come from the environment; see `bench/run.sh --help`.

settings    the run's settings (environment, --quick, --only), the sections, beian's environment
proc        processes the run starts (and stops), commands, CPU and memory from /proc
pg          PostgreSQL through psql: databases, pg_stat_statements, the cluster
sqllog      beian's SQL read back from PostgreSQL's log, and the pgbench script of it
dataset     `beian dev seed`, the copy the writing sections use, `beian dev sample-input`
server      a running beian: HTTP, GraphQL, sessions
load        wrk and pgbench runs with their CPU and SQL
postgraphile  the PostGraphile peer and the foreign-key indexes of postgraphile+fk
targets     the targets, read from the results
report      the console and Markdown reports
sections/   one module a section: page, detail, queue, create, transitions, email, upload, coldstart, scale
"""
