// The driver: runs one generated client's flow against the API (GeneratedClientsFixture builds and starts it).
// args: nswag|kiota <api url> <broken api url> <admin key> <reader key> <run id> <exchange log path>
using Driver;

var target = new Target(new Uri(args[1]), new Uri(args[2]), args[3], args[4], args[5]);
using var log = new ExchangeLog(args[6]);
try
{
    if (args[0] == "nswag")
    {
        await NSwagFlow.RunAsync(target, log);
    }
    else
    {
        await KiotaFlow.RunAsync(target, log);
    }
    Console.WriteLine($"{args[0]}: every step passed");
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"{args[0]}: {e}");
    return 1;
}
