package mdm.mysql;

import com.github.shyiko.mysql.binlog.BinaryLogClient;
import io.debezium.config.Configuration;
import io.debezium.connector.mysql.MySqlConnector;
import io.debezium.connector.mysql.MySqlConnectorTask;
import io.debezium.connector.mysql.MySqlOffsetContext;
import io.debezium.connector.mysql.MySqlPartition;
import io.debezium.pipeline.ChangeEventSourceCoordinator;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.connector.Task;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Debezium's MySQL connector, reading MariaDB's binlog in whole transactions.
 *
 * <p>MariaDB opens each transaction in the binlog with a GTID event, no {@code BEGIN} query
 * event, when the replica says it understands GTIDs ({@code @mariadb_slave_capability=4}, what
 * the bundled binlog client says). Debezium's MySQL connector does not read MariaDB's GTID
 * events, so it never sees a transaction begin: it records the position after each rows event
 * as its restart point, and a capture stopped inside a multi-event transaction (a kill -9)
 * restarts between that transaction's TABLE_MAP and its rows ("No TableMapEventData has been
 * found for table id"). Announcing capability 3 (binlog checksums, no GTIDs) makes MariaDB send
 * each transaction's GTID event as a {@code BEGIN} query event, which the connector reads as
 * the transaction's start: it restarts there and skips the events already sent, as on MySQL.
 *
 * <p>The binlog client is built inside {@link MySqlConnectorTask#start}; the task sets the
 * capability right after, before streaming connects it (the snapshot, or at least the
 * streaming source's own start-up queries, come first). MySQL servers never read it.
 */
public final class MariaDbConnector extends MySqlConnector {

    @Override
    public Class<? extends Task> taskClass() {
        return Task_.class;
    }

    /**
     * The task's configuration names Debezium's MySqlConnector: Debezium picks its
     * connector-specific services (the snapshot's select-all query, its lock) by the identity
     * of the {@code connector.class}, and a subclass would match none of them.
     */
    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> configs = new ArrayList<>();
        for (Map<String, String> config : super.taskConfigs(maxTasks)) {
            Map<String, String> named = new HashMap<>(config);
            named.put("connector.class", MySqlConnector.class.getName());
            configs.add(named);
        }
        return configs;
    }

    /** The MySQL connector's task, with the binlog client announcing capability 3. */
    public static final class Task_ extends MySqlConnectorTask {
        static final int MARIA_SLAVE_CAPABILITY_BINLOG_CHECKSUM = 3;
        private static final Logger LOGGER = LoggerFactory.getLogger(MariaDbConnector.class);

        @Override
        public ChangeEventSourceCoordinator<MySqlPartition, MySqlOffsetContext> start(Configuration config) {
            ChangeEventSourceCoordinator<MySqlPartition, MySqlOffsetContext> coordinator = super.start(config);
            BinaryLogClient client = binaryLogClient(coordinator);
            client.setMariaDbSlaveCapability(MARIA_SLAVE_CAPABILITY_BINLOG_CHECKSUM);
            if (client.isConnected()) {
                LOGGER.warn("binlog client connected before mdm set @mariadb_slave_capability=3: "
                        + "this session reads MariaDB GTID events (a reconnect reads BEGIN events)");
            }
            return coordinator;
        }

        static BinaryLogClient binaryLogClient(ChangeEventSourceCoordinator<?, ?> coordinator) {
            try {
                Field factoryField = ChangeEventSourceCoordinator.class.getDeclaredField("changeEventSourceFactory");
                factoryField.setAccessible(true);
                Object factory = factoryField.get(coordinator);
                Field clientField = factory.getClass().getDeclaredField("binaryLogClient");
                clientField.setAccessible(true);
                return (BinaryLogClient) clientField.get(factory);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("mdm: cannot reach the MySQL connector's binlog "
                        + "client (Debezium's internals changed?): " + e, e);
            }
        }
    }
}
