using System.Globalization;

namespace BuildFarm.WorkerLoad;

/// <summary>The real RabbitMQ and Redis, named like the tests name them (BUILDFARM_TEST_RABBITMQ, BUILDFARM_TEST_REDIS).</summary>
public sealed record Services(string RabbitHost, int RabbitPort, string RabbitUser, string RabbitPassword, string Redis)
{
    public const string RabbitVariable = "BUILDFARM_TEST_RABBITMQ";
    public const string RedisVariable = "BUILDFARM_TEST_REDIS";

    /// <summary>Reads both variables; a missing or malformed one is an error naming it and how to get one.</summary>
    public static Services FromEnvironment()
    {
        var rabbit = Environment.GetEnvironmentVariable(RabbitVariable);
        var redis = Environment.GetEnvironmentVariable(RedisVariable);
        if (string.IsNullOrWhiteSpace(rabbit) || string.IsNullOrWhiteSpace(redis))
        {
            throw new ArgumentException($"{RabbitVariable} and {RedisVariable} must be set (amqp://guest:guest@127.0.0.1:PORT/ and 127.0.0.1:PORT); " +
                "load-tests/run-worker-load.sh starts private servers and sets them");
        }
        if (!Uri.TryCreate(rabbit, UriKind.Absolute, out var uri) || uri.Scheme != "amqp" || uri.Port <= 0)
        {
            throw new ArgumentException($"{RabbitVariable}: '{rabbit}' is not an amqp://user:password@host:port/ URI");
        }
        if (uri.AbsolutePath is not ("/" or ""))
        {
            throw new ArgumentException($"{RabbitVariable}: '{rabbit}' names a virtual host; the load generator uses the default one (/)");
        }
        var user = uri.UserInfo.Split(':', 2);
        return new Services(uri.Host, uri.Port, Uri.UnescapeDataString(user[0] is "" ? "guest" : user[0]),
            user.Length > 1 ? Uri.UnescapeDataString(user[1]) : "guest", redis);
    }

    /// <summary>The worker's configuration for these servers (the <c>Bus</c> and <c>Redis</c> sections).</summary>
    public Dictionary<string, string?> WorkerSettings(string redisPrefix) => new()
    {
        ["Bus:Transport"] = "RabbitMq",
        ["Bus:Host"] = RabbitHost,
        ["Bus:Port"] = RabbitPort.ToString(CultureInfo.InvariantCulture),
        ["Bus:VirtualHost"] = "/",
        ["Bus:Username"] = RabbitUser,
        ["Bus:Password"] = RabbitPassword,
        ["Redis:ConnectionString"] = Redis,
        ["Redis:KeyPrefix"] = redisPrefix,
    };
}
