using System.CommandLine;
using BuildFarm.Manifests.Hosting;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Scheduling;
using BuildFarm.Messaging.Hosting;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm schedule</c>: runs a manifest's schedules until Ctrl+C, publishing SubmitBatch to RabbitMQ.</summary>
public static class ScheduleCommand
{
    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var manifest = new Option<FileInfo>("--manifest", "-m") { Description = "The manifest whose schedule entries fire (required).", Required = true };
        var redis = new Option<string?>("--redis")
        {
            Description = "Redis HOST:PORT (or a StackExchange.Redis configuration string) for the leader lease and claims; without it the scheduler coordinates in process and must run alone.",
        };
        var rabbit = new Option<string>("--rabbitmq")
        {
            Description = "RabbitMQ URL amqp://user:password@host:port/vhost.",
            DefaultValueFactory = _ => "amqp://guest:guest@127.0.0.1:5672/",
        };
        var missed = new Option<string>("--missed") { Description = "Occurrences missed while down: skip (default) or run-once (coalesced into one run).", DefaultValueFactory = _ => "skip" };
        var sha = new Option<string?>("--sha") { Description = "Revision for {sha} in scheduled batches (default: s<yyMMddHHmm> of each occurrence)." };
        var prefix = new Option<string>("--key-prefix") { Description = "Prefix of the scheduler's Redis keys (one per manifest).", DefaultValueFactory = _ => "buildfarm:" };
        var command = new Command("schedule", "Run a manifest's scheduled rebuilds: one leader among all instances fires each occurrence once, as a batch of the image and its dependents.")
        {
            manifest, redis, rabbit, missed, sha, prefix,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var policy = parse.GetValue(missed)?.ToLowerInvariant() switch
            {
                "skip" => MissedSchedulePolicy.Skip,
                "run-once" or "runonce" => MissedSchedulePolicy.RunOnce,
                _ => (MissedSchedulePolicy?)null,
            };
            if (policy is null)
            {
                return await UsageAsync(io, $"--missed '{parse.GetValue(missed)}' must be skip or run-once");
            }
            if (!TryParseAmqp(parse.GetValue(rabbit)!, out var amqp, out var amqpError))
            {
                return await UsageAsync(io, $"--rabbitmq: {amqpError}");
            }
            var options = new ManifestSchedulerOptions
            {
                Enabled = true,
                ManifestPath = parse.GetValue(manifest)!.FullName,
                Missed = policy.Value,
                Sha = parse.GetValue(sha),
                RedisConnectionString = parse.GetValue(redis),
                KeyPrefix = parse.GetValue(prefix)!,
            };
            if (options.Validate() is { Count: > 0 } problems)
            {
                return await UsageAsync(io, string.Join("; ", problems));
            }
            Manifest loaded;
            try
            {
                loaded = ManifestScheduler.LoadManifest(options);
            }
            catch (ManifestException e)
            {
                await io.Error.WriteLineAsync($"buildfarm schedule: {e.Message}");
                return 2;
            }
            if (!loaded.Scheduled.Any())
            {
                await io.Error.WriteLineAsync($"buildfarm schedule: {options.ManifestPath} has no image with a schedule; nothing to run");
                return 2;
            }

            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
            // A broker that cannot be reached is one line ("broker rabbitmq://… unreachable (…): retrying"), not a stack trace.
            builder.Services.AddBuildFarmOperatorLogging();
            builder.Services.AddBuildFarmScheduler(o =>
            {
                o.Enabled = true;
                o.ManifestPath = options.ManifestPath;
                o.Missed = options.Missed;
                o.Sha = options.Sha;
                o.RedisConnectionString = options.RedisConnectionString;
                o.KeyPrefix = options.KeyPrefix;
            });
            builder.Services.AddMassTransit(x => x.UsingRabbitMq((_, cfg) => cfg.Host(amqp.Host, amqp.Port, amqp.VirtualHost, h =>
            {
                h.Username(amqp.Username);
                h.Password(amqp.Password);
            })));
            using var host = builder.Build();
            var scheduler = host.Services.GetRequiredService<ManifestScheduler>();
            scheduler.OnFired += fired => io.Out.WriteLine(
                $"{fired.Occurrence.UtcDateTime:yyyy-MM-ddTHH:mm}Z {fired.Image}: published batch {fired.BatchId} ({Plural.Of(fired.Images, "image")})"
                + (fired.Coalesced > 0 ? $", {fired.Coalesced} missed occurrence(s) coalesced" : ""));
            await host.StartAsync(cancellationToken);
            await io.Out.WriteLineAsync($"buildfarm schedule: instance {scheduler.InstanceId}, {string.Join(", ", loaded.Scheduled.Select(i => $"{i.Name} '{i.Schedule}'"))} (UTC), "
                + $"missed: {parse.GetValue(missed)}, coordination: {(options.RedisConnectionString is null ? "in process (run one instance only)" : "redis " + options.RedisConnectionString)}, "
                + $"publishing to amqp://{amqp.Host}:{amqp.Port}{amqp.VirtualHost}. Ctrl+C stops.");
            // Ctrl+C reaches either the command line's token or the host's console lifetime (which then only signals stopping).
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(
                cancellationToken, host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
            try
            {
                await Task.Delay(Timeout.Infinite, stopping.Token);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C.
            }
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await host.StopAsync(stop.Token);
            return 0;
        });
        return command;
    }

    internal sealed record AmqpAddress(string Host, ushort Port, string VirtualHost, string Username, string Password);

    internal static bool TryParseAmqp(string value, out AmqpAddress address, out string error)
    {
        address = new AmqpAddress("", 0, "/", "", "");
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme != "amqp" || string.IsNullOrEmpty(uri.Host))
        {
            error = $"'{value}' is not an amqp://user:password@host:port/vhost URL";
            return false;
        }
        var user = "guest";
        var password = "guest";
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            user = Uri.UnescapeDataString(parts[0]);
            password = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "";
        }
        var vhost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        address = new AmqpAddress(uri.Host, (ushort)(uri.IsDefaultPort || uri.Port <= 0 ? 5672 : uri.Port), vhost.Length == 0 ? "/" : vhost, user, password);
        error = "";
        return true;
    }

    private static async Task<int> UsageAsync(CliIO io, string message)
    {
        await io.Error.WriteLineAsync($"buildfarm schedule: {message}");
        return BuildFarmCli.UsageError;
    }
}
