require 'json'

settings = JSON.parse(File.read('config.json'))
name = params.is_a?(Hash) ? params.fetch('name', 'world') : 'world'
out = { 'greeting' => "#{settings['greeting']}, #{name}!", 'env' => ENV['RACK_ENV'], 'retries' => ENV['RETRIES'] }
puts 'MAGICALSTDOUTSEPARATOR' + JSON.generate(out) + 'MAGICALSTDOUTSEPARATOR'
