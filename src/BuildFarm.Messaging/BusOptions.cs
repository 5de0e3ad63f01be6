namespace BuildFarm.Messaging;

public enum BusTransport
{
    /// <summary>MassTransit's in-memory transport: demo and unit tests, nothing survives the process.</summary>
    InMemory,

    RabbitMq,
}

/// <summary>The <c>Bus</c> configuration section: the message transport, the same for the worker, the API and the demo.</summary>
public sealed class BusOptions
{
    public const string SectionName = "Bus";

    public BusTransport Transport { get; set; } = BusTransport.InMemory;
    public string Host { get; set; } = "127.0.0.1";
    public ushort Port { get; set; } = 5672;
    public string VirtualHost { get; set; } = "/";
    public string Username { get; set; } = "guest";

    /// <summary>From the environment (<c>Bus__Password</c>) or a mounted file, never from appsettings.json in production.</summary>
    public string Password { get; set; } = "guest";

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(Transport))
        {
            errors.Add($"Bus:Transport: '{Transport}' must be InMemory or RabbitMq");
        }
        if (Transport == BusTransport.RabbitMq)
        {
            if (string.IsNullOrWhiteSpace(Host))
            {
                errors.Add("Bus:Host: is required with the RabbitMq transport");
            }
            if (Port == 0)
            {
                errors.Add("Bus:Port: must be a port number (1-65535)");
            }
            if (string.IsNullOrEmpty(VirtualHost))
            {
                errors.Add("Bus:VirtualHost: is required (the default vhost is '/')");
            }
            if (string.IsNullOrEmpty(Username))
            {
                errors.Add("Bus:Username: is required with the RabbitMq transport");
            }
        }
        return errors;
    }
}
