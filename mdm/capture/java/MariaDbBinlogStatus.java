package mdm.mysql;

import com.mysql.cj.MysqlConnection;
import com.mysql.cj.NoSubInterceptorWrapper;
import com.mysql.cj.Query;
import com.mysql.cj.interceptors.QueryInterceptor;
import com.mysql.cj.jdbc.JdbcConnection;
import com.mysql.cj.jdbc.interceptors.ConnectionLifecycleInterceptor;
import com.mysql.cj.log.Log;
import com.mysql.cj.protocol.Resultset;
import com.mysql.cj.protocol.ServerSession;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.List;
import java.util.Properties;
import java.util.function.Supplier;

/**
 * Lets Debezium's MySQL connector (3.6) read MariaDB's binlog position.
 *
 * <p>The connector asks {@code SHOW BINARY LOG STATUS} (MySQL 8.4's name); when the server
 * refuses it, it reads {@code SELECT VERSION()} and, taking MariaDB's "10.11" for a MySQL
 * later than 8.4, fails instead of falling back to {@code SHOW MASTER STATUS}. MariaDB (up to
 * 11.x) knows only {@code SHOW MASTER STATUS} (alias {@code SHOW BINLOG STATUS}), whose columns
 * are the same (File, Position, Binlog_Do_DB, Binlog_Ignore_DB).
 *
 * <p>Debezium removes Connector/J's {@code queryInterceptors} property from the connection
 * properties on purpose, but passes {@code connectionLifecycleInterceptors} on (as
 * {@code driver.connectionLifecycleInterceptors=mdm.mysql.MariaDbBinlogStatus}). A lifecycle
 * interceptor sees no statements; its {@link #init} (run by Connector/J on every connect)
 * adds {@link Answer} to the connection's query interceptors, on a MariaDB server only. {@link Answer} runs {@code SHOW MASTER STATUS} in
 * place of {@code SHOW BINARY LOG STATUS} and hands its result back; every other statement
 * passes untouched. MySQL servers are left alone (8.4 and later know the statement; older
 * ones are handled by Debezium's own fallback).
 */
public final class MariaDbBinlogStatus implements ConnectionLifecycleInterceptor {

    static final String ASKED = "SHOW BINARY LOG STATUS";
    static final String ANSWERED_WITH = "SHOW MASTER STATUS";

    @Override
    public ConnectionLifecycleInterceptor init(MysqlConnection conn, Properties props, Log log) {
        if (conn instanceof JdbcConnection && isMariaDb(conn)) {
            JdbcConnection jdbc = (JdbcConnection) conn;
            List<QueryInterceptor> interceptors = jdbc.getQueryInterceptorsInstances();
            if (interceptors != null && !holdsAnswer(interceptors)) {
                // While connecting, Connector/J holds its query interceptors wrapped (no
                // results of theirs during its own start-up queries) and unwraps this very
                // list into the session once connected; a reconnect keeps the unwrapped
                // list, which then holds the Answer already.
                interceptors.add(new NoSubInterceptorWrapper(new Answer(jdbc)));
            }
        }
        return this;
    }

    static boolean holdsAnswer(List<QueryInterceptor> interceptors) {
        for (QueryInterceptor interceptor : interceptors) {
            QueryInterceptor inner = interceptor instanceof NoSubInterceptorWrapper
                    ? ((NoSubInterceptorWrapper) interceptor).getUnderlyingInterceptor() : interceptor;
            if (inner instanceof Answer) {
                return true;
            }
        }
        return false;
    }

    static boolean isMariaDb(MysqlConnection conn) {
        ServerSession server = conn.getSession().getServerSession();
        String version = server.getServerVariable("version");
        if (version == null) {
            version = String.valueOf(server.getCapabilities().getServerVersion());
        }
        return version.toLowerCase(java.util.Locale.ROOT).contains("mariadb");
    }

    static boolean isAsked(String sql) {
        return sql != null && sql.trim().replaceAll("\\s+", " ").replaceAll(";$", "")
                .equalsIgnoreCase(ASKED);
    }

    /** Answers SHOW BINARY LOG STATUS with SHOW MASTER STATUS's result. */
    static final class Answer implements QueryInterceptor {
        private final JdbcConnection connection;
        private Statement statement; // one per connection: each query closes the last result

        Answer(JdbcConnection connection) {
            this.connection = connection;
        }

        @Override
        public QueryInterceptor init(MysqlConnection conn, Properties props, Log log) {
            return this;
        }

        @Override
        @SuppressWarnings("unchecked")
        public <T extends Resultset> T preProcess(Supplier<String> sql, Query interceptedQuery) {
            if (!isAsked(sql.get())) {
                return null;
            }
            try {
                if (statement == null || statement.isClosed()) {
                    statement = connection.createStatement();
                }
                return (T) statement.executeQuery(ANSWERED_WITH);
            } catch (SQLException e) {
                throw new IllegalStateException(ANSWERED_WITH + " failed: " + e.getMessage(), e);
            }
        }

        @Override
        public boolean executeTopLevelOnly() {
            return true;
        }

        @Override
        public void destroy() {
            statement = null;
        }

        @Override
        public <T extends Resultset> T postProcess(Supplier<String> sql, Query interceptedQuery,
                                                   T originalResultSet, ServerSession serverSession) {
            return null;
        }
    }

    @Override
    public void destroy() {
    }

    @Override
    public void close() {
    }

    @Override
    public boolean commit() {
        return true;
    }

    @Override
    public boolean rollback() {
        return true;
    }

    @Override
    public boolean rollback(Savepoint savepoint) {
        return true;
    }

    @Override
    public boolean setAutoCommit(boolean flag) {
        return true;
    }

    @Override
    public boolean setDatabase(String db) {
        return true;
    }

    @Override
    public boolean transactionBegun() {
        return true;
    }

    @Override
    public boolean transactionCompleted() {
        return true;
    }
}
