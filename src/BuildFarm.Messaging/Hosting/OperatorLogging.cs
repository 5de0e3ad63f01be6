using System.Collections.Concurrent;
using System.Net.Sockets;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BuildFarm.Messaging.Hosting;

/// <summary>A log entry as an operator should see it: one line, no exception, logged once per <see cref="Key"/> within
/// <see cref="OperatorLogRules.Window"/>; a null <see cref="Line"/> drops the entry.</summary>
public sealed record OperatorLogLine(LogLevel Level, string? Line, string Key);

/// <summary>
/// Which log entries of MassTransit and of the host are expected operational events rather than bugs, and the one line
/// each becomes (pure). Everything else is logged unchanged, stack trace included.
/// <list type="bullet">
/// <item>MassTransit's <c>Connection Failed: rabbitmq://host:port/</c> (the broker is down or unreachable; MassTransit
/// retries by itself) → <c>broker rabbitmq://host:port/ unreachable (Connection refused): retrying</c>.</item>
/// <item><c>R-FAULT</c>/<c>T-FAULT</c> for a message whose consumer or acknowledgement failed because the connection or
/// channel closed (a broker restart) or the consumer was stopped → one line saying the message goes back to the
/// broker and will be delivered again, once per message.</item>
/// <item>The host's "Hosting failed to start" for a failure <see cref="BuildFarmHost.DescribeStartupFailure"/> reports
/// itself → dropped; so is MassTransit's "Failed to stop bus: … (Not Started)" for a bus that never reached its broker.</item>
/// </list>
/// </summary>
public static class OperatorLogRules
{
    /// <summary>The same line (same key) is logged at most once in this window.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>Event id of Microsoft.Extensions.Hosting's "Hosting failed to start".</summary>
    public const int HostingFailedToStart = 11;

    public static OperatorLogLine? Rewrite(string category, EventId eventId, string message, IReadOnlyList<KeyValuePair<string, object?>>? values,
        Exception? exception)
    {
        ArgumentNullException.ThrowIfNull(category);
        ArgumentNullException.ThrowIfNull(message);
        if (category.StartsWith("MassTransit", StringComparison.Ordinal) && message.StartsWith("Failed to stop bus: ", StringComparison.Ordinal)
            && message.EndsWith("(Not Started)", StringComparison.Ordinal))
        {
            // Stopping a bus that never reached its broker: nothing was stopped, nothing to say.
            return new OperatorLogLine(LogLevel.None, null, "");
        }
        if (exception is null)
        {
            return null;
        }
        if (category == "Microsoft.Extensions.Hosting.Internal.Host" && eventId.Id == HostingFailedToStart
            && BuildFarmHost.DescribeStartupFailure(exception) is not null)
        {
            return new OperatorLogLine(LogLevel.None, null, "");
        }
        if (!category.StartsWith("MassTransit", StringComparison.Ordinal) || ConnectionProblem(exception) is not { } reason)
        {
            return null;
        }
        if (message.StartsWith("Connection Failed: ", StringComparison.Ordinal))
        {
            var broker = message["Connection Failed: ".Length..].Split(' ', 2)[0];
            return new OperatorLogLine(LogLevel.Warning, $"broker {broker} unreachable ({reason}): retrying", "unreachable " + broker);
        }
        if (message.StartsWith("R-FAULT ", StringComparison.Ordinal) || message.StartsWith("T-FAULT ", StringComparison.Ordinal))
        {
            var parts = message.Split(' ');
            var address = Value(values, "InputAddress") ?? (parts.Length > 1 ? parts[1] : "?");
            var id = Value(values, "MessageId") ?? (parts.Length > 2 ? parts[2] : "?");
            var type = Value(values, "MessageType");
            return new OperatorLogLine(LogLevel.Warning,
                $"message {id}{(type is null ? "" : $" ({type})")} on {address} handed back to the broker ({reason}): it will be delivered again",
                "handed back " + id);
        }
        return null;
    }

    /// <summary>Why a failure is the connection's or a stop's, not the message's (null when it is not): the innermost
    /// message of a RabbitMQ client, MassTransit connection or socket error, or "consumer stopped" for a cancellation.</summary>
    public static string? ConnectionProblem(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        string? found = null;
        var cancelled = false;
        foreach (var e in Chain(exception))
        {
            if (e is SocketException or ConnectionException or TransportUnavailableException
                || (e.GetType().Namespace ?? "").StartsWith("RabbitMQ.Client", StringComparison.Ordinal))
            {
                found = e.Message;
            }
            cancelled |= e is OperationCanceledException;
        }
        return found ?? (cancelled ? "consumer stopped: connection closed or host stopping" : null);
    }

    private static IEnumerable<Exception> Chain(Exception exception)
    {
        var pending = new Stack<Exception>();
        pending.Push(exception);
        var seen = 0;
        while (pending.Count > 0 && seen++ < 32)
        {
            var e = pending.Pop();
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is not null)
            {
                pending.Push(e.InnerException);
            }
        }
    }

    private static string? Value(IReadOnlyList<KeyValuePair<string, object?>>? values, string name) =>
        values?.FirstOrDefault(v => v.Key == name).Value?.ToString();
}

/// <summary>
/// An <see cref="ILoggerFactory"/> over the host's own that applies <see cref="OperatorLogRules"/>: filtering rules,
/// providers and levels stay those of the host. Registered by <see cref="OperatorLoggingExtensions.AddBuildFarmOperatorLogging"/>.
/// </summary>
public sealed class OperatorLoggerFactory(ILoggerFactory inner, TimeProvider time) : ILoggerFactory
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _logged = new(StringComparer.Ordinal);

    public ILogger CreateLogger(string categoryName) => new OperatorLogger(inner.CreateLogger(categoryName), categoryName, this);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        inner.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>True the first time a key is seen within the window (the set is bounded: old keys are dropped).</summary>
    internal bool FirstInWindow(string key)
    {
        var now = time.GetUtcNow();
        if (_logged.Count > 10_000)
        {
            foreach (var old in _logged.Where(e => now - e.Value >= OperatorLogRules.Window).Select(e => e.Key).ToList())
            {
                _logged.TryRemove(old, out _);
            }
        }
        var first = true;
        _logged.AddOrUpdate(key, now, (_, last) =>
        {
            first = now - last >= OperatorLogRules.Window;
            return first ? now : last;
        });
        return first;
    }

    private sealed class OperatorLogger(ILogger inner, string category, OperatorLoggerFactory factory) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if ((exception is not null || logLevel >= LogLevel.Warning)
                && OperatorLogRules.Rewrite(category, eventId, formatter(state, exception), state as IReadOnlyList<KeyValuePair<string, object?>>, exception) is { } line)
            {
                if (line.Line is not null && factory.FirstInWindow(line.Key))
                {
                    inner.Log(line.Level, eventId, line.Line, null, static (s, _) => s);
                }
                return;
            }
            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}

public static class OperatorLoggingExtensions
{
    /// <summary>Replaces the host's <see cref="ILoggerFactory"/> with an <see cref="OperatorLoggerFactory"/> over the same
    /// providers and filter rules. Call after the logging set-up.</summary>
    public static IServiceCollection AddBuildFarmOperatorLogging(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.RemoveAll<ILoggerFactory>();
        services.AddSingleton<ILoggerFactory>(sp => new OperatorLoggerFactory(
            new LoggerFactory(sp.GetServices<ILoggerProvider>(), sp.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>(),
                sp.GetService<IOptions<LoggerFactoryOptions>>(), sp.GetService<IExternalScopeProvider>()),
            sp.GetService<TimeProvider>() ?? TimeProvider.System));
        return services;
    }
}
