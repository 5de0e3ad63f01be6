using MassTransit;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Messaging;

/// <summary>Connects a host's MassTransit bus to the transport its <c>Bus</c> section names.</summary>
public static class BusTransportConfiguration
{
    /// <summary>The <c>Bus</c> section as configured (defaults when absent). Read at registration: MassTransit fixes the
    /// transport then.</summary>
    public static BusOptions GetBusOptions(this IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration.GetSection(BusOptions.SectionName).Get<BusOptions>() ?? new BusOptions();
    }

    /// <summary>
    /// RabbitMQ with publisher confirms (a publish completes once the broker has the message: a submit is answered and a
    /// build's events are counted only then), or the in-memory transport; endpoints for every registered consumer.
    /// MassTransit's usage report to its vendor (an HTTPS call at start) is turned off.
    /// </summary>
    public static void UsingBuildFarmTransport(this IBusRegistrationConfigurator configurator, BusOptions bus)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(bus);
        configurator.DisableUsageTelemetry();
        if (bus.Transport == BusTransport.RabbitMq)
        {
            configurator.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(bus.Host, bus.Port, bus.VirtualHost, h =>
                {
                    h.Username(bus.Username);
                    h.Password(bus.Password);
                    h.PublisherConfirmation = true;
                });
                cfg.ConfigureEndpoints(context);
            });
        }
        else
        {
            configurator.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        }
    }
}
