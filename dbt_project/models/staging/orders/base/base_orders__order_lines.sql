{{ latest_delivered(source('orders', 'order_lines'), ref('base_orders__superseded_order_lines')) }}
