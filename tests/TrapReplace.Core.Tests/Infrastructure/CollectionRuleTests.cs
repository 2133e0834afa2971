using System.Reflection;

namespace TrapReplace.Core.Tests.Infrastructure;

public sealed class CollectionRuleTests
{
    // AssemblySettings.cs: a named collection runs beside the torch tests, so the only names allowed are a class's own
    // (its tests never train, evaluate or set a thread count). A shared name for torch tests would run them in parallel
    // with the rest (it did: the peer tests' collection, once parallelization was on, diverged an I-BAU run).
    [Fact]
    public void Every_named_collection_is_one_class_of_its_own()
    {
        var named = typeof(CollectionRuleTests).Assembly.GetTypes()
            .Select(t => (Type: t, Attribute: t.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType == typeof(CollectionAttribute))))
            .Where(x => x.Attribute is not null)
            .Select(x => (x.Type.Name, Collection: (string)x.Attribute!.ConstructorArguments[0].Value!))
            .ToList();

        named.Should().HaveCountGreaterThanOrEqualTo(10, "the parsers, downloads and splits run beside the torch tests");
        named.Should().OnlyContain(x => x.Collection == x.Name);
    }
}
