using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TrapReplace.Replacement;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Configuration;

/// <summary>Registers the trainers with options bound from configuration and validated.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="TrapTrainerOptions"/> from <c>{section}:Trap</c> and <see cref="HeadReplacerOptions"/>
    /// from <c>{section}:Replace</c>, validates them when first resolved (every bad value named), and
    /// registers <see cref="TrapTrainer"/> and <see cref="HeadReplacer"/> as transients.
    /// </summary>
    public static IServiceCollection AddTrapReplace(this IServiceCollection services, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        services.AddOptions<TrapTrainerOptions>().Bind(section.GetSection("Trap"));
        services.AddOptions<HeadReplacerOptions>().Bind(section.GetSection("Replace"));
        services.AddSingleton<IValidateOptions<TrapTrainerOptions>>(new DelegateValidator<TrapTrainerOptions>(o => o.Validate()));
        services.AddSingleton<IValidateOptions<HeadReplacerOptions>>(new DelegateValidator<HeadReplacerOptions>(o => o.Validate()));
        services.AddTransient(sp => new TrapTrainer(sp.GetRequiredService<IOptions<TrapTrainerOptions>>().Value, sp.GetService<ILogger<TrapTrainer>>()));
        services.AddTransient(sp => new HeadReplacer(sp.GetRequiredService<IOptions<HeadReplacerOptions>>().Value, sp.GetService<ILogger<HeadReplacer>>()));
        return services;
    }

    private sealed class DelegateValidator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var errors = validate(options);
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
